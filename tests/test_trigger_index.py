"""The trigger index is a pre-filter: for any name patterns it must offer every leaf whose
patterns match an event's name (checked against a brute-force scan of all leaves)."""

from __future__ import annotations

import random

from tocsin.automations.compiled import Leaf, TriggerIndex
from tocsin.automations.model import parse_automation

SEGMENTS = ["a", "b", "ab", "flow-run", "*", "?", "a*", "*b", "[ab]", "[.]", "!a"]


def _pattern(rng: random.Random) -> str:
    return ".".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 4)))


def _leaf(i: int, patterns: list[str], match: dict | None = None) -> Leaf:
    automation = parse_automation({"name": f"a{i}", "actions": [],
                                   "trigger": {"expect": patterns,
                                               "match": match or {"prefect.resource.id": "r*"}}})
    return Leaf(f"a{i}", automation.trigger, None)  # type: ignore[arg-type]


def test_every_leaf_whose_pattern_matches_is_a_candidate_and_none_twice():
    rng = random.Random(13)
    index = TriggerIndex()
    leaves = [_leaf(i, [_pattern(rng) for _ in range(rng.randint(1, 2))]) for i in range(400)]
    for leaf in leaves:
        index.add(leaf)
    names = ["a", "a.b", "ab.b", "a.b.flow-run", "b.a.ab.b", "a.", ".b", "x.y.z", "a.b.c.d.e"]
    names += [".".join(rng.choice(["a", "b", "ab", "c"]) for _ in range(rng.randint(1, 5)))
              for _ in range(200)]
    for name in names:
        found = [leaf for leaf in index.lookup(name, "r")[0] if leaf.names(name)]
        assert len(found) == len({id(f) for f in found}), name
        assert {leaf.automation_id for leaf in found} == {leaf.automation_id for leaf in leaves if leaf.names(name)}, name


def test_globs_with_a_literal_segment_are_not_scanned():
    index = TriggerIndex()
    for i in range(100):
        index.add(_leaf(i, [f"svc.{i}.*"]))
        index.add(_leaf(1000 + i, [f"*.failed.{i}"]))
    index.add(_leaf(5000, ["*"]))
    assert len(index.scan) == 1
    assert [leaf.automation_id for leaf in index.lookup("svc.7.up", "r")[0]] == ["a7", "a5000"]
    assert {leaf.automation_id for leaf in index.lookup("x.failed.7", "r")[0]} == {"a1007", "a5000"}


def test_removed_leaves_are_no_candidates():
    index = TriggerIndex()
    leaf = _leaf(1, ["svc.*", "*.done"])
    index.add(leaf)
    index.remove(leaf)
    assert index.lookup("svc.done", "r")[0] == []


def test_what_a_name_decides_is_remembered_only_until_the_leaves_change():
    """Lookups are remembered per name: a leaf added or removed after a name was looked up
    must show in the next lookup of that name, for exact, glob and scanned patterns."""
    index = TriggerIndex()
    for name in ("svc.done", "job.done", "anything"):
        assert index.lookup(name, "r")[0] == []
    exact, glob, scanned = _leaf(1, ["svc.done"]), _leaf(2, ["*.done"]), _leaf(3, ["!x"])
    for leaf in (exact, glob, scanned):
        index.add(leaf)
    assert index.lookup("svc.done", "r")[0] == [exact, glob, scanned]
    assert index.lookup("job.done", "r")[0] == [glob, scanned]
    index.remove(glob)
    assert index.lookup("svc.done", "r")[0] == [exact, scanned]
    assert index.lookup("job.done", "r")[0] == [scanned]


def test_the_name_entry_says_what_it_is_near_once_asked():
    index = TriggerIndex()
    index.add(_leaf(1, ["svc.done"]))
    assert index.lookup("svc.don", "r")[1] == ()
    index.near_of(lambda name: ("near", name))
    assert index.lookup("svc.don", "r")[1] == ("near", "svc.don")
    index.near_of(None)
    assert index.lookup("svc.don", "r")[1] == ()
