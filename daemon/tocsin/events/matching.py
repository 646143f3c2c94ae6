"""Resource matching exactly as Prefect's server does it (one implementation for all users).

A spec maps label -> pattern or list of patterns. A resource matches when every label (AND)
has some pattern (OR) matching its value. Patterns are case-sensitive globs (`*`, `?`,
`[seq]`); a leading `!` negates; a missing label never matches, negated or not. Specs are
compiled once into predicates, so the per-event cost is a few string comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import translate

Predicate = Callable[[str], bool]
ResourcePredicate = Callable[[Mapping[str, str]], bool]
Spec = Mapping[str, "str | Sequence[str]"]

_GLOB_CHARS = re.compile(r"[*?\[]")


def is_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


def compile_pattern(pattern: str) -> Predicate:
    """A single-value predicate; exact patterns compare, globs use one compiled regex."""
    negate = pattern.startswith("!")
    if negate:
        pattern = pattern[1:]
    if is_glob(pattern):
        test: Predicate = _glob(pattern)
    else:
        test = pattern.__eq__
    if negate:
        return lambda v: not test(v)
    return test


def _glob(pattern: str) -> Predicate:
    """`prefix*` and `*suffix` (most name globs) as string tests; others as one regex.
    Compiling a regex costs ~0.1 ms, which 10,000 automations pay on every apply."""
    if pattern.endswith("*") and not is_glob(pattern[:-1]):
        prefix = pattern[:-1]
        return lambda v: v.startswith(prefix)
    if pattern.startswith("*") and not is_glob(pattern[1:]):
        suffix = pattern[1:]
        return lambda v: v.endswith(suffix)
    matcher = re.compile(translate(pattern)).match
    return lambda v: matcher(v) is not None


def matches(expected: str, value: str | None) -> bool:
    """Prefect's `matches`: None never matches, even a negated pattern."""
    return value is not None and compile_pattern(expected)(value)


def _compile_values(patterns: str | Sequence[str]) -> Predicate:
    if isinstance(patterns, str):
        return compile_pattern(patterns)
    preds = [compile_pattern(p) for p in patterns]
    if len(preds) == 1:
        return preds[0]
    return lambda v: any(p(v) for p in preds)


Checks = list[tuple[str, Predicate]]


def spec_checks(spec: Spec) -> Checks:
    """(label, predicate over its value) per label of a spec: what both evaluation and
    `explain_spec` run, so an explanation can never disagree with a verdict."""
    return [(label, _compile_values(values)) for label, values in spec.items()]


def compile_spec(spec: Spec) -> ResourcePredicate:
    """Predicate for one resource specification (an empty spec matches everything)."""
    return checks_predicate(spec_checks(spec))


def checks_predicate(checks: Checks) -> ResourcePredicate:
    """All labels hold (AND); a missing label never holds (`label_holds`, inlined here)."""
    if not checks:
        return lambda resource: True

    def check(resource: Mapping[str, str]) -> bool:
        for label, pred in checks:
            value = resource.get(label)
            if value is None or not pred(value):
                return False
        return True

    return check


def label_holds(pred: Predicate, value: str | None) -> bool:
    """One label's verdict, as `compile_spec`'s predicate decides it (missing never holds)."""
    return value is not None and pred(value)


def explain_spec(spec: Spec, checks: Checks,
                 resource: Mapping[str, str]) -> list[dict[str, object]]:
    """Per label: the patterns wanted, the value got and the verdict."""
    return [{"label": label, "wanted": spec[label], "got": resource.get(label),
             "ok": label_holds(pred, resource.get(label))} for label, pred in checks]


def normalize_related(match_related: Spec | Sequence[Spec] | None) -> list[Spec]:
    if not match_related:
        return []
    if isinstance(match_related, Mapping):
        return [match_related]
    return list(match_related)


class ResourceMatcher:
    """`match` on the primary resource plus `match_related` specs, compiled together.

    Each related spec must be satisfied by at least one related resource (different specs by
    different resources); all labels of one spec must hold on the same resource.
    """

    __slots__ = ("_primary", "_related", "exact_ids", "primary_spec", "primary_checks",
                 "related_specs")

    def __init__(self, match: Spec | None = None,
                 match_related: Spec | Sequence[Spec] | None = None) -> None:
        match = match or {}
        self.primary_spec = match
        self.primary_checks = spec_checks(match)
        self._primary = checks_predicate(self.primary_checks)
        self.related_specs = [(s, spec_checks(s)) for s in normalize_related(match_related) if s]
        self._related = [checks_predicate(checks) for _, checks in self.related_specs]
        self.exact_ids = exact_resource_ids(match)

    def __call__(self, resource: Mapping[str, str], related: Iterable[Mapping[str, str]]) -> bool:
        if not self._primary(resource):
            return False
        if self._related:
            related = list(related)
            for pred in self._related:
                if not any(pred(r) for r in related):
                    return False
        return True

    def explain(self, resource: Mapping[str, str],
                related: Sequence[Mapping[str, str]]) -> dict[str, object]:
        """`match` per label, and per `match_related` spec the related resource that came
        closest (most labels holding; the first one that holds them all)."""
        out_related = []
        for spec, checks in self.related_specs:
            best: list[dict[str, object]] = []
            for candidate in related:
                labels = explain_spec(spec, checks, candidate)
                if not best or _held(labels) > _held(best):
                    best = labels
                if all(label["ok"] for label in labels):
                    break
            if not best:
                best = explain_spec(spec, checks, {})
            out_related.append({"role": spec.get("prefect.resource.role"),
                                "ok": all(label["ok"] for label in best), "labels": best})
        return {"match": explain_spec(self.primary_spec, self.primary_checks, resource),
                "match_related": out_related}


def _held(labels: list[dict[str, object]]) -> int:
    return sum(1 for label in labels if label["ok"])


def exact_resource_ids(match: Spec) -> frozenset[str] | None:
    """The exact primary ids a spec admits, or None when it admits ids by glob/negation/any.

    Lets the trigger index file a trigger under those ids instead of checking it on every event.
    """
    ids = match.get("prefect.resource.id")
    if ids is None:
        return None
    values = [ids] if isinstance(ids, str) else list(ids)
    if any(v.startswith("!") or is_glob(v) for v in values):
        return None
    return frozenset(values)


def compile_name_patterns(patterns: Iterable[str]) -> Predicate:
    """Event-name globs (as in `expect`, `after` and event filters); `!` negates one pattern."""
    preds = [compile_pattern(p) for p in patterns]
    if not preds:
        return lambda name: True
    if len(preds) == 1:
        return preds[0]
    return lambda name: any(p(name) for p in preds)
