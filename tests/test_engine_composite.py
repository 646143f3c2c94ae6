"""Compound and sequence triggers on virtual (processing) time (§6)."""

from __future__ import annotations

from engine_timeline import Timeline


def leaf(name: str, **fields):
    return {"type": "event", "expect": [name], "posture": "Reactive", **fields}


def compound(require, *children, within=None):
    return {"type": "compound", "require": require, "triggers": list(children), "within": within}


def sequence(*children, within=None):
    return {"type": "sequence", "triggers": list(children), "within": within}


def test_compound_any_fires_on_each_child_without_storing_slots():
    tl = Timeline(compound("any", leaf("a"), leaf("b")))
    tl.emit("a", 0)
    tl.emit("b", 1)
    assert tl.times() == [0, 1]
    assert tl.engine.stats().composite_slots == 0


def test_compound_all_needs_every_child_then_starts_over():
    tl = Timeline(compound("all", leaf("a"), leaf("b"), leaf("c")))
    tl.emit("a", 0)
    tl.emit("b", 1)
    assert tl.firings == []
    fired = tl.emit("c", 2)
    assert len(fired) == 1
    assert [f.triggering_event.event for f in fired[0].triggering_firings] == ["a", "b", "c"]
    assert fired[0].triggering_event.event == "c" and fired[0].triggering_labels == {}
    tl.emit("c", 3)
    assert len(tl.firings) == 1


def test_compound_n_of_m():
    tl = Timeline(compound(2, leaf("a"), leaf("b"), leaf("c")))
    tl.emit("a", 0)
    tl.emit("a", 1)  # the same child again replaces its slot
    assert tl.firings == []
    tl.emit("c", 2)
    assert tl.times() == [2]


def test_compound_within_drops_old_child_firings():
    tl = Timeline(compound("all", leaf("a"), leaf("b"), within=10))
    tl.emit("a", 0)
    tl.emit("b", 11)
    assert tl.firings == []
    tl.emit("a", 15)
    assert tl.times() == [15]


def test_compound_within_null_has_no_time_limit():
    tl = Timeline(compound("all", leaf("a"), leaf("b")))
    tl.emit("a", 0)
    tl.emit("b", 86400)
    assert tl.times() == [86400]


def test_children_for_each_does_not_partition_the_composite():
    tl = Timeline(compound("all", leaf("a", for_each=["prefect.resource.id"]),
                           leaf("b", for_each=["prefect.resource.id"])))
    tl.emit("a", 0, "r1")
    tl.emit("b", 1, "r2")
    assert tl.times() == [1]


def test_sequence_requires_list_order():
    tl = Timeline(sequence(leaf("a"), leaf("b")))
    tl.emit("b", 0)
    tl.emit("a", 1)
    assert tl.firings == []
    tl.emit("b", 2)  # the newer b replaces the old slot: now a then b
    assert tl.times() == [2]


def test_sequence_within_expiry():
    tl = Timeline(sequence(leaf("a"), leaf("b"), within=5))
    tl.emit("a", 0)
    tl.emit("b", 6)
    assert tl.firings == []


def test_single_child_sequence_fires_at_once():
    tl = Timeline(sequence(leaf("a")))
    tl.emit("a", 0)
    assert tl.times() == [0]


def test_nested_composites():
    tl = Timeline(sequence(compound("all", leaf("a"), leaf("b")), leaf("c")))
    tl.emit("c", 0)
    tl.emit("a", 1)
    tl.emit("b", 2)
    assert tl.firings == []
    fired = tl.emit("c", 3)
    assert len(fired) == 1
    inner = fired[0].triggering_firings[0]
    assert [f.triggering_event.event for f in inner.triggering_firings] == ["a", "b"]
    # depth-first: each composite firing carries its last child's event too
    assert [e.event for e in fired[0].all_events()] == ["c", "b", "a", "b", "c"]


def test_proactive_child_in_a_compound_fires_at_its_deadline():
    tl = Timeline(compound("all", leaf("a"),
                           {"type": "event", "posture": "Proactive", "expect": ["hb"],
                            "within": 30}))
    tl.emit("a", 10)
    assert tl.firings == []
    fired = tl.tick(30)
    assert len(fired) == 1 and fired[0].at.timestamp() == fired[0].triggering_firings[1].at.timestamp()


def test_proactive_composite_firings_do_not_resolve():
    tl = Timeline(compound("any", {"type": "event", "posture": "Proactive", "expect": ["hb"],
                                   "within": 30}))
    tl.tick(30)
    tl.emit("hb", 31)
    assert tl.times() == [30] and tl.times("resolved") == []
