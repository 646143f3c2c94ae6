"""The feed's type-as-you-go filter: one line of text turned into a predicate on events.

Each whitespace-separated term must match (AND):
- `key=pattern` matches the primary resource's label `key` (`id=` is short for
  `prefect.resource.id`), with `*` and `?` wildcards;
- any other term matches the event name or the resource id: as a wildcard pattern when it
  holds `*`, `?` or `[`, else as a substring (so typing `order` already narrows the feed).
Matching ignores case, which is what someone typing a filter expects.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

_GLOB_CHARS = frozenset("*?[")
_LABEL_ALIASES = {"id": "prefect.resource.id", "name": "prefect.resource.name"}


def _text_matcher(pattern: str) -> Callable[[str], bool]:
    pattern = pattern.lower()
    if _GLOB_CHARS.intersection(pattern):
        return lambda value: fnmatchcase(value.lower(), pattern)
    return lambda value: pattern in value.lower()


def _term(term: str) -> Predicate:
    key, sep, value = term.partition("=")
    if sep and key:
        label = _LABEL_ALIASES.get(key, key)
        match = _text_matcher(value)
        return lambda e: match(str(e.get("resource", {}).get(label, "")))
    match = _text_matcher(term)
    return lambda e: match(e.get("event", "")) or match(
        str(e.get("resource", {}).get("prefect.resource.id", "")))


def compile_filter(text: str) -> Predicate | None:
    """The predicate for a filter line, or None when the line is blank (everything matches)."""
    terms = [_term(t) for t in text.split()]
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return lambda e: all(t(e) for t in terms)
