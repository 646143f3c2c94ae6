"""Near-misses: recent events that passed some of a trigger's criteria and failed others.

Kept per automation in a bounded ring, so `automation inspect` can show why something that
almost matched did not count. Two kinds are recorded while the engine evaluates:

- the name was expected but the resource was not (`match` / `match_related`): triggers the
  engine's index offered that failed their resource check, and triggers filed by exact
  resource ids when the event's name is theirs but its resource id is not;
- the resource fits but the name was nearly expected (it differs only by case, whitespace or
  one edit, and no trigger expects it exactly — a typo is a name nobody listens for).

The hot path pays one dict lookup per event (name -> the triggers it is near, cached); the
verdicts and nearest values are worked out only when someone asks (`explain`).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import msgspec

from ..events.matching import is_glob
from ..events.model import Event
from ..events.nearest import nearest, squash

if TYPE_CHECKING:
    from .compiled import Leaf

DEFAULT_SIZE = 20
#: distinct event names whose near triggers are remembered (cleared whole when full)
NAME_CACHE_MAX = 50_000


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
        #: exact expected name -> triggers filed by exact resource ids that expect it
        self._by_name: dict[str, list[Leaf]] = {}
        #: a one-character deletion (or none) of a squashed exact name -> triggers expecting it
        self._deletions: dict[str, set[Leaf]] = {}
        self._exact_names: dict[str, int] = {}
        #: squashed length -> how many exact names have it (a name can only be one edit
        #: from a name of its length or one more or less)
        self._lengths: dict[int, int] = {}
        #: event name -> what `_near` found for it
        self.cache: dict[str, Found] = {}

    # -- following the engine's index ----------------------------------------------------------
    def add(self, leaf: Leaf) -> None:
        for name in _exact_names(leaf):
            self._exact_names[name] = self._exact_names.get(name, 0) + 1
            length = len(squash(name))
            self._lengths[length] = self._lengths.get(length, 0) + 1
            if leaf.exact_ids:
                self._by_name.setdefault(name, []).append(leaf)
            for variant in _deletions(squash(name)):
                self._deletions.setdefault(variant, set()).add(leaf)
        self.cache.clear()

    def remove(self, leaf: Leaf) -> None:
        for name in _exact_names(leaf):
            left = self._exact_names.get(name, 0) - 1
            if left > 0:
                self._exact_names[name] = left
            else:
                self._exact_names.pop(name, None)
            length = len(squash(name))
            if self._lengths.get(length, 0) > 1:
                self._lengths[length] -= 1
            else:
                self._lengths.pop(length, None)
            if leaf in self._by_name.get(name, ()):
                self._by_name[name].remove(leaf)
            for variant in _deletions(squash(name)):
                self._deletions.get(variant, set()).discard(leaf)
        self.cache.clear()

    def forget(self, automation_id: str) -> None:
        self.rings.pop(automation_id, None)

    # -- the hot path ------------------------------------------------------------------------------
    def observe(self, event: Event, found: Found | None, at: float) -> None:
        """Record the near-misses the side index finds (the engine records the others).

        The engine looks `found` up in `cache` itself and calls this only for names not
        seen yet (None) or with something near: most events cost it one dict lookup."""
        if found is None:
            found = self._near(event.event)
            if not found:
                return
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

    def _near(self, name: str) -> Found:
        near: set[Leaf] = set()
        word = squash(name)
        lengths = self._lengths
        if name not in self._exact_names and (
                len(word) in lengths or len(word) - 1 in lengths or len(word) + 1 in lengths):
            get = self._deletions.get
            for variant in _deletions(word):
                leaves = get(variant)
                if leaves:
                    near.update(leaves)
        close = tuple(leaf for leaf in near if not leaf.names(name)
                      and any(nearest(name, p) for p in _exact_names(leaf)))
        by_id = tuple(self._by_name.get(name, ()))
        found: Found = (close, by_id) if close or by_id else ()
        if len(self.cache) >= NAME_CACHE_MAX:
            self.cache.clear()
        self.cache[name] = found
        return found


def _exact_names(leaf: Leaf) -> list[str]:
    return [p for p in leaf.name_patterns or () if not p.startswith("!") and not is_glob(p)]


def _deletions(word: str) -> list[str]:
    """The word and every way of deleting one character: two words one edit apart share one
    (a substitution leaves the same word once its character is deleted from both)."""
    variants = [word[:i] + word[i + 1:] for i in range(len(word))]
    variants.append(word)
    return variants
