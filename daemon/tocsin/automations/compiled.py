"""Triggers compiled for evaluation, and the index from events to the triggers that care.

Compiling turns each event trigger (at any depth) into a `Leaf` with its predicates built
once, and each composite into a `Composite` node that knows its parent. The `TriggerIndex`
files leaves by exact event name, exact resource id and the literal segments of glob names,
so an event is checked only against triggers that could match it (DESIGN rule 4); only
negated name patterns and globs with no literal segment at either end sit in a list that
every new event name walks (what a name alone decides is remembered per name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from ..events.matching import ResourceMatcher, compile_name_patterns, is_glob
from ..events.model import Event
from ..firing import Firing
from .model import (
    Automation,
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    SequenceTrigger,
    Trigger,
)
from .state import Slot

Node = Union["Leaf", "Composite"]
#: (every name-decided candidate, those filed by exact name, the glob / scanned ones that
#: match, what the name is near)
_NameEntry = tuple[list["Leaf"], list["Leaf"], list["Leaf"], Any]
#: distinct event names whose lookups are remembered (cleared whole when full)
NAME_CACHE_MAX = 50_000


class Composite:
    """A compound or sequence trigger: collects child firings into slots (§6)."""

    __slots__ = (
        "automation_id",
        "child_ids",
        "id",
        "parent",
        "required",
        "sequence",
        "within",
    )

    def __init__(self, automation_id: str, trigger: CompoundTrigger | SequenceTrigger,
                 parent: Composite | None) -> None:
        self.automation_id = automation_id
        self.id = trigger.id
        self.parent = parent
        self.child_ids = [t.id for t in trigger.triggers]
        self.required = trigger.required
        self.within = trigger.within
        self.sequence = isinstance(trigger, SequenceTrigger)

    @property
    def fires_on_one(self) -> bool:
        """Prefect's shortcut: needing one child firing, fire at once and store nothing."""
        return self.required == 1 and (not self.sequence or len(self.child_ids) == 1)

    def offer(self, slots: dict[str, Slot], child: Firing, at: float,
              seq: int) -> list[Firing] | None:
        """Put a child firing in its slot (the latest per child wins; slots older than
        `within` go); the child firings to fire with, in firing order, once ready."""
        if self.within is not None:
            for cid in [c for c, s in slots.items() if s.at < at - self.within]:
                del slots[cid]
        slots[child.trigger_id] = Slot(seq=seq, at=at, firing=child)
        ordered = sorted(slots.items(), key=lambda item: (item[1].at, item[1].seq))
        if self.sequence:
            ready = [cid for cid, _ in ordered] == self.child_ids
        else:
            ready = len(slots) >= self.required
        return [slot.firing for _, slot in ordered] if ready else None


class Leaf:
    """One event trigger, ready to evaluate."""

    __slots__ = (
        "arms",
        "automation_id",
        "covers",
        "exact_ids",
        "expects",
        "for_each",
        "id",
        "immediate",
        "matcher",
        "name_patterns",
        "parent",
        "reactive",
        "threshold",
        "trigger",
        "tumbling",
        "within",
    )

    def __init__(self, automation_id: str, trigger: EventTrigger,
                 parent: Composite | None) -> None:
        self.automation_id = automation_id
        self.id = trigger.id
        self.parent = parent
        self.trigger = trigger
        self.expects: Callable[[str], bool] = compile_name_patterns(trigger.expect)
        self.arms: Callable[[str], bool] | None = (
            compile_name_patterns(trigger.after) if trigger.after else None)
        self.matcher = matcher = ResourceMatcher(trigger.match, trigger.match_related)
        self.covers = lambda e: matcher(e.resource, e.related)
        self.exact_ids = matcher.exact_ids
        self.for_each = sorted(trigger.for_each)
        self.reactive = trigger.posture == "Reactive"
        self.within = float(trigger.within)
        self.threshold = trigger.threshold
        self.immediate = self.reactive and self.within == 0
        #: plain proactive (no after, no for_each): one tumbling window from load time
        self.tumbling = not self.reactive and not trigger.after and not trigger.for_each
        #: None means "every event name" (an empty expect)
        self.name_patterns = sorted(set(trigger.expect) | set(trigger.after)) \
            if trigger.expect else None

    def key(self, event: Event) -> tuple[str, ...]:
        """The bucketing key: for_each label values, "" when missing (§4.1)."""
        if not self.for_each:
            return ()
        return tuple(event.find_resource_label(label) or "" for label in self.for_each)

    def labels(self, key: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self.for_each, key))

    def names(self, name: str) -> bool:
        return self.expects(name) or (self.arms is not None and self.arms(name))


class Compiled:
    """An automation's trigger tree, compiled."""

    def __init__(self, automation: Automation) -> None:
        assert automation.id is not None
        self.automation = automation
        self.leaves: list[Leaf] = []
        self.composites: dict[str, Composite] = {}
        self.root = self._compile(automation.trigger, None)

    def _compile(self, trigger: Trigger, parent: Composite | None) -> Node | None:
        aid = self.automation.id
        assert aid is not None
        if isinstance(trigger, MetricTrigger):  # no leaves: see metrics.MetricEvaluator
            return None
        if isinstance(trigger, EventTrigger):
            leaf = Leaf(aid, trigger, parent)
            self.leaves.append(leaf)
            return leaf
        node = Composite(aid, trigger, parent)
        self.composites[node.id] = node
        for child in trigger.triggers:
            self._compile(child, node)
        return node

    @property
    def trigger_ids(self) -> set[str]:
        return {leaf.id for leaf in self.leaves} | set(self.composites)


class TriggerIndex:
    """Event name (exact) and primary resource id (exact) -> leaves that may care.

    Glob name patterns are filed by their literal leading dotted segments (`prefect.flow-run`
    for `prefect.flow-run.*`) or, when they start with a glob, their literal trailing ones
    (`failed` for `*.failed`), in a trie of segments: an event's name walks one path of each,
    so only patterns that could match its name are tried, however many automations exist.
    Negated patterns and ones with no literal segment at either end sit in `scan`, which
    every new event name walks. The index only pre-filters: each candidate is still checked by
    `Leaf.names` / `Leaf.covers`.
    """

    def __init__(self) -> None:
        self.by_name: dict[str, list[Leaf]] = {}
        self.by_name_id: dict[tuple[str, str], list[Leaf]] = {}
        self.by_id: dict[str, list[Leaf]] = {}
        self.by_prefix = SegmentTrie()
        self.by_suffix = SegmentTrie()
        self.scan: list[Leaf] = []
        #: event name -> what the name alone decides (see `_learn`), forgotten on any change
        self._names: dict[str, _NameEntry] = {}
        self._near: Callable[[str], Any] | None = None

    def near_of(self, near: Callable[[str], Any] | None) -> None:
        """Have each name's lookup also say which triggers it nearly names (`near(name)`,
        see nearmiss.py; None: not asked), so recording near-misses costs no lookup of its
        own per event."""
        self._near = near
        self._names.clear()

    def _slots(self, leaf: Leaf) -> list[list[Leaf]]:
        patterns = leaf.name_patterns
        exact_names = patterns is not None and not any(
            is_glob(p) or p.startswith("!") for p in patterns)
        ids = leaf.exact_ids
        if exact_names and ids:
            return [self.by_name_id.setdefault((n, i), []) for n in patterns or () for i in ids]
        if exact_names:
            return [self.by_name.setdefault(n, []) for n in patterns or ()]
        if ids:
            return [self.by_id.setdefault(i, []) for i in ids]
        slots = [self._glob_slot(p) for p in patterns or ("*",)]
        if any(slot is None for slot in slots):
            return [self.scan]
        return slots  # type: ignore[return-value]

    def _glob_slot(self, pattern: str) -> list[Leaf] | None:
        """The trie node's list a pattern is filed under, or None (it needs a scan)."""
        if pattern.startswith("!") or "[" in pattern:  # a `[.]` would match a separator
            return None
        segments = pattern.split(".")
        head = _literal_run(segments)
        if head:
            return self.by_prefix.slot(head)
        tail = _literal_run(segments[::-1])
        return self.by_suffix.slot(tail) if tail else None

    def add(self, leaf: Leaf) -> None:
        for slot in self._slots(leaf):
            slot.append(leaf)
        self._names.clear()

    def remove(self, leaf: Leaf) -> None:
        for slot in self._slots(leaf):
            if leaf in slot:
                slot.remove(leaf)
        self._names.clear()

    def lookup(self, name: str, resource_id: str) -> tuple[list[Leaf], Any]:
        """The leaves that may care about an event (to be checked with `Leaf.covers`), and
        what its name is near (`near_of`; () for nothing, or when not asked). The name's
        part is worked out once per name: most events cost one dict lookup here."""
        entry = self._names.get(name)
        if entry is None:
            entry = self._learn(name)
        leaves, exact, matched, near = entry
        if not self.by_name_id and not self.by_id:
            return leaves, near
        extra: list[Leaf] = []
        if self.by_name_id:
            pair = self.by_name_id.get((name, resource_id))
            if pair:
                extra.extend(pair)
        if self.by_id:
            for leaf in self.by_id.get(resource_id, ()):
                if leaf.names(name):
                    extra.append(leaf)
        return (exact + extra + matched if extra else leaves), near

    def _learn(self, name: str) -> _NameEntry:
        """What the name alone decides: the leaves filed under it exactly, the glob and
        scanned leaves whose names match it, and what it is near. New lists, so a leaf
        added or removed while an event is evaluated does not change its candidates."""
        exact = list(self.by_name.get(name, ()))
        matched: list[Leaf] = []
        if self.by_prefix.root or self.by_suffix.root:
            segments = name.split(".")
            globbed = self.by_prefix.walk(segments) + self.by_suffix.walk(segments[::-1])
            if len(globbed) > 1:
                globbed = list(dict.fromkeys(globbed))  # one leaf filed under two patterns
            matched.extend(leaf for leaf in globbed if leaf.names(name))
        matched.extend(leaf for leaf in self.scan
                       if leaf.name_patterns is None or leaf.names(name))
        near = self._near(name) if self._near is not None else ()
        if len(self._names) >= NAME_CACHE_MAX:
            self._names.clear()
        entry = self._names[name] = (exact + matched, exact, matched, near)
        return entry


class SegmentTrie:
    """Leaves filed under a path of dotted name segments; `walk` finds every leaf filed on
    the path a name spells (each a possible match, to be checked)."""

    def __init__(self) -> None:
        #: segment -> (leaves filed here, children)
        self.root: dict[str, tuple[list[Leaf], dict]] = {}

    def slot(self, segments: list[str]) -> list[Leaf]:
        node = self.root
        for seg in segments[:-1]:
            node = node.setdefault(seg, ([], {}))[1]
        return node.setdefault(segments[-1], ([], {}))[0]

    def walk(self, segments: list[str]) -> list[Leaf]:
        found: list[Leaf] = []
        node = self.root
        for seg in segments:
            entry = node.get(seg)
            if entry is None:
                break
            found.extend(entry[0])
            node = entry[1]
        return found


def _literal_run(segments: list[str]) -> list[str]:
    """The leading segments with no glob character, short of the whole pattern."""
    run = []
    for seg in segments[:-1]:
        if is_glob(seg):
            break
        run.append(seg)
    return run
