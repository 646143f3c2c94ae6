"""Which wanted value a near-miss was near: "Monax" for "monax", "animal.walked" for
"animal.walkd". Only literal patterns can be near (a glob or a negation has no one value)."""

from __future__ import annotations

from collections.abc import Iterable

from .matching import is_glob


def one_edit_apart(a: str, b: str) -> bool:
    """True when one insertion, deletion or substitution turns `a` into `b` (not equal)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


def squash(value: str) -> str:
    """A value with case and whitespace taken out (what "differs only by" ignores)."""
    return "".join(value.split()).casefold()


def is_near(got: str, literal: str, squashed_got: str, squashed_literal: str) -> bool:
    """Whether `got` differs from `literal` only by case, whitespace or one edit: the one
    definition `nearest` and the near-miss index share (both values come squashed, so a
    caller testing many pairs squashes each value once)."""
    return got != literal and (squashed_got == squashed_literal or one_edit_apart(literal, got))


def nearest(got: str | None, wanted: str | Iterable[str]) -> tuple[str, str] | None:
    """(the literal pattern `got` nearly is, how it differs) or None when none is near; a
    pattern differing only by case or whitespace beats one an edit away."""
    if got is None:
        return None
    patterns = [wanted] if isinstance(wanted, str) else list(wanted)
    word = squash(got)
    near = [(p, squash(p)) for p in patterns
            if not p.startswith("!") and not is_glob(p) and is_near(got, p, word, squash(p))]
    for pattern, squashed in near:
        if squashed == word:
            same_case = "".join(pattern.split()) == "".join(got.split())
            return pattern, "whitespace" if same_case else "case"
    return (near[0][0], "one edit") if near else None
