"""Near-misses: recent events that passed some of a trigger's criteria and failed others.

Kept per automation in a bounded ring, so `automation inspect` can show why something that
almost matched did not count. Two kinds are recorded while the engine evaluates:

- the name was expected but the resource was not (`match` / `match_related`): triggers the
  engine's index offered that failed their resource check, and triggers filed by exact
  resource ids when the event's name is theirs but its resource id is not;
- the resource fits but the name was nearly expected (it differs only by case, whitespace or
  one edit, and no trigger expects it exactly — a typo is a name nobody listens for).

What an event name is near is decided once per name (`near`) and remembered by the
engine's trigger index with the rest of what the name decides, so the hot path pays no
lookup of its own per event, and nothing more for the names no trigger nearly expects (most
of them). Deciding is cheap too: every expected literal name is filed under its
squashed form and each one-character deletion of it (two words one edit apart share one
such variant; a substitution leaves the same word once its character is deleted from
both), so a new name costs a dict hit per variant of it, and only the few names found that
way are compared with it. The verdicts and nearest values are worked out only when someone
asks (`explain`).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import msgspec

from ..events.matching import is_glob
from ..events.model import Event
from ..events.nearest import is_near, squash

if TYPE_CHECKING:
    from .compiled import Leaf

DEFAULT_SIZE = 20


#: (triggers a name is near, exact-id triggers expecting the name), or () for neither
Found = tuple[tuple["Leaf", ...], tuple["Leaf", ...]] | tuple[()]


class NearMiss(msgspec.Struct, kw_only=True, gc=False):  # holds no cycles
    at: float
    event: Event
    trigger_id: str
    #: the criterion that failed: "expect" or "match" (details: explain the event)
    failed: str


class NearMisses:
    """The rings, and the side index that finds near names without scanning triggers."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.rings: dict[str, deque[NearMiss]] = {}
        #: exact expected name (in `expect` or `after`) -> the triggers expecting it
        self._expecting: dict[str, list[Leaf]] = {}
        #: exact expected name -> its squashed form
        self._squashed: dict[str, str] = {}
        #: a squashed expected name, and each one-character deletion of it -> those names
        self._variants: dict[str, set[str]] = {}
        #: squashed length -> how many expected names have it (a name can only be one edit
        #: from a name of its length or one more or less: others need no variant lookups)
        self._lengths: dict[int, int] = {}
        #: (length, first character) of each key of `_variants` -> how many keys: a name's
        #: deletions past its first character all start with it, so when no key of their
        #: length does, they need no lookups
        self._starts: dict[tuple[int, str], int] = {}

    # -- following the engine's index ----------------------------------------------------------
    def add(self, leaf: Leaf) -> None:
        for name in _exact_names(leaf):
            expecting = self._expecting.setdefault(name, [])
            expecting.append(leaf)
            if len(expecting) == 1:
                self._file(name)

    def remove(self, leaf: Leaf) -> None:
        for name in _exact_names(leaf):
            expecting = self._expecting.get(name, [])
            if leaf in expecting:
                expecting.remove(leaf)
            if not expecting and self._expecting.pop(name, None) is not None:
                self._unfile(name)

    def _file(self, name: str) -> None:
        word = self._squashed[name] = squash(name)
        self._lengths[len(word)] = self._lengths.get(len(word), 0) + 1
        for variant in _deletions(word):
            names = self._variants.get(variant)
            if names is None:
                names = self._variants[variant] = set()
                start = (len(variant), variant[:1])
                self._starts[start] = self._starts.get(start, 0) + 1
            names.add(name)

    def _unfile(self, name: str) -> None:
        word = self._squashed.pop(name)
        if self._lengths[len(word)] > 1:
            self._lengths[len(word)] -= 1
        else:
            del self._lengths[len(word)]
        for variant in _deletions(word):
            names = self._variants[variant]
            names.discard(name)
            if not names:
                del self._variants[variant]
                start = (len(variant), variant[:1])
                if self._starts[start] > 1:
                    self._starts[start] -= 1
                else:
                    del self._starts[start]

    def forget(self, automation_id: str) -> None:
        self.rings.pop(automation_id, None)

    # -- the hot path ------------------------------------------------------------------------------
    def observe(self, event: Event, found: Found, at: float) -> None:
        """Record the near-misses `near(event.event)` found (the engine records the others;
        it calls this only when something was found)."""
        near, by_id = found  # type: ignore[misc]
        if by_id:
            rid = event.resource["prefect.resource.id"]
            for leaf in by_id:
                if rid not in leaf.exact_ids:
                    self.record(leaf, event, at, "match")
        for leaf in near:
            if leaf.covers(event):
                self.record(leaf, event, at, "expect")

    def record(self, leaf: Leaf, event: Event, at: float, failed: str) -> None:
        ring = self.rings.get(leaf.automation_id)
        if ring is None:
            ring = self.rings[leaf.automation_id] = deque(maxlen=self.size)
        ring.append(NearMiss(at=at, event=event, trigger_id=leaf.id, failed=failed))

    def near(self, name: str) -> Found:
        """What a name is near: the triggers it nearly names (when no trigger names it
        exactly) and the exact-id triggers that name it. The caller remembers the answer
        until a trigger is added or removed."""
        expecting = self._expecting.get(name)
        if expecting is not None:
            by_id = tuple(leaf for leaf in expecting if leaf.exact_ids)
            found: Found = ((), by_id) if by_id else ()
        else:
            close = self._close(name)
            found = (close, ()) if close else ()
        return found

    def _close(self, name: str) -> tuple[Leaf, ...]:
        """The triggers with an expected name `name` is near, that do not name it otherwise
        (a glob of theirs may)."""
        word = squash(name)
        size, lengths = len(word), self._lengths
        if size not in lengths and size - 1 not in lengths and size + 1 not in lengths:
            return ()
        get, squashed = self._variants.get, self._squashed
        candidates: set[str] = set()
        names = get(word)
        if names:
            candidates.update(names)
        if size and (size in lengths or size - 1 in lengths):  # else no key is a deletion
            names = get(word[1:])
            if names:
                candidates.update(names)
            if (size - 1, word[:1]) in self._starts:
                for i in range(1, size):
                    names = get(word[:i] + word[i + 1:])
                    if names:
                        candidates.update(names)
        close: dict[Leaf, None] = {}  # ordered, without repeats
        for expected in candidates:
            if is_near(name, expected, word, squashed[expected]):
                for leaf in self._expecting[expected]:
                    if not leaf.names(name):
                        close[leaf] = None
        return tuple(close)


def _exact_names(leaf: Leaf) -> list[str]:
    return [p for p in leaf.name_patterns or () if not p.startswith("!") and not is_glob(p)]


def _deletions(word: str) -> set[str]:
    """The word and every way of deleting one character from it (once each: deleting
    either "o" of "loop" gives one variant)."""
    variants = {word[:i] + word[i + 1:] for i in range(len(word))}
    variants.add(word)
    return variants
