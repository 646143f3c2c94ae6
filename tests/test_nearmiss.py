"""The near-miss ring on the pure engine (issue 17): what is recorded, what is not, bounds."""

from __future__ import annotations

from engine_timeline import Timeline
from test_engine import sample

MONAX = {"genus": "Marmota", "species": "monax"}


def ring(tl: Timeline, i: int = 0) -> list[tuple[str, str]]:
    assert tl.engine.records_near_misses
    return [(m.event.event, m.failed) for m in tl.engine.near_misses(tl.automations[i].id)]


def recording(*triggers, size: int = 20) -> Timeline:
    tl = Timeline(*triggers)
    tl.engine.record_near_misses(size)
    return tl


def test_expected_name_with_a_wrong_label_is_a_near_miss_on_match():
    tl = recording(sample("woodchonk.yaml"))
    tl.emit("animal.walked", 0, labels={**MONAX, "species": "Monax"})
    tl.emit("animal.walked", 1, labels=MONAX)  # counts: not a near-miss
    assert ring(tl) == [("animal.walked", "match")]


def test_a_name_one_edit_away_with_the_resource_fitting_is_a_near_miss_on_expect():
    tl = recording(sample("woodchonk.yaml"))
    tl.emit("animal.walkd", 0, labels=MONAX)
    tl.emit("Animal.walked", 1, labels=MONAX)
    tl.emit("animal.walkd", 2, labels={**MONAX, "genus": "Felis"})  # both fail: nothing near
    tl.emit("animal.slept", 3, labels=MONAX)  # not near at all
    assert ring(tl) == [("animal.walkd", "expect"), ("Animal.walked", "expect")]


def test_a_name_another_trigger_expects_exactly_is_not_a_typo():
    tl = recording({"expect": ["m.12"]}, {"expect": ["m.123"]})
    tl.emit("m.12", 0)
    assert ring(tl, 1) == []
    tl.emit("m.124", 1)  # one edit from both
    assert ring(tl, 1) == [("m.124", "expect")] and ring(tl, 0) == [("m.124", "expect")]


def test_exact_resource_id_triggers_record_the_other_ids_and_the_near_names():
    tl = recording({"expect": ["job.done"], "match": {"prefect.resource.id": "host.1"}})
    tl.emit("job.done", 0, "host.2")
    tl.emit("job.done", 1, "host.1")
    tl.emit("job.don", 2, "host.1")
    tl.emit("job.started", 3, "host.1")
    assert ring(tl) == [("job.done", "match"), ("job.don", "expect")]


def test_the_ring_is_bounded_and_keeps_the_latest():
    tl = recording(sample("woodchonk.yaml"), size=3)
    for t in range(5):
        tl.emit("animal.walked", t, f"animal.{t}", labels={"genus": "Felis"})
    assert [m.event.resource_id for m in tl.engine.near_misses(tl.automations[0].id)] == [
        "animal.2", "animal.3", "animal.4"]


def test_off_records_nothing_and_paused_automations_record_nothing():
    tl = Timeline(sample("woodchonk.yaml"))
    tl.emit("animal.walked", 0, labels={"genus": "Felis"})
    assert not tl.engine.records_near_misses
    tl.engine.record_near_misses(5)
    tl.engine.set_enabled(tl.automations[0].id, False, 0)
    tl.emit("animal.walked", 1, labels={"genus": "Felis"})
    tl.emit("animal.walkd", 1, labels=MONAX)
    assert ring(tl) == []
    tl.engine.set_enabled(tl.automations[0].id, True, 1)
    tl.emit("animal.walkd", 2, labels=MONAX)
    assert ring(tl) == [("animal.walkd", "expect")]
    tl.engine.unload(tl.automations[0].id)
    assert tl.engine.near_misses(tl.automations[0].id) == []


def test_a_name_two_triggers_expect_stays_near_until_neither_expects_it():
    tl = recording({"expect": ["job.done"]}, {"expect": ["job.done"]})
    tl.engine.set_enabled(tl.automations[0].id, False, 0)
    tl.emit("job.don", 0)
    assert ring(tl, 0) == [] and ring(tl, 1) == [("job.don", "expect")]
    tl.engine.set_enabled(tl.automations[1].id, False, 0)
    tl.emit("job.dne", 1)
    assert ring(tl, 1) == [("job.don", "expect")]
    tl.engine.set_enabled(tl.automations[0].id, True, 2)
    tl.emit("job.dne", 2)
    assert ring(tl, 0) == [("job.dne", "expect")]


def test_pausing_a_trigger_whose_name_has_a_doubled_letter_unfiles_it_once():
    """Regression: "loop.ping" has the deletion "lop.ping" twice; unfiling it raised
    KeyError inside the loop guard's pause and failed the engine round."""
    tl = recording({"expect": ["loop.ping"]})
    tl.engine.set_enabled(tl.automations[0].id, False, 0)
    tl.emit("lop.ping", 0)
    tl.engine.set_enabled(tl.automations[0].id, True, 1)
    tl.emit("lop.ping", 1)
    assert ring(tl) == [("lop.ping", "expect")]


def test_names_seen_before_recording_started_are_judged_once_it_does():
    tl = Timeline(sample("woodchonk.yaml"))
    tl.emit("animal.walkd", 0, labels=MONAX)  # its lookup is remembered, with nothing near
    tl.engine.record_near_misses(5)
    tl.emit("animal.walkd", 1, labels=MONAX)
    assert ring(tl) == [("animal.walkd", "expect")]
    tl.engine.load(tl.automations[0], 2)  # reloaded: the index changes, near-misses stay
    tl.emit("animal.walkd", 3, labels=MONAX)
    assert ring(tl) == [("animal.walkd", "expect")] * 2


def test_the_variant_lookups_find_every_near_name_a_brute_force_scan_finds():
    """`near` looks up only some of a name's one-character deletions (by length and first
    character): it must find what comparing with every expected name finds."""
    import random

    from tocsin.automations.compiled import Leaf
    from tocsin.automations.model import parse_automation
    from tocsin.automations.nearmiss import NearMisses, _deletions
    from tocsin.events.nearest import is_near, squash

    rng = random.Random(5)

    def word() -> str:
        return "".join(rng.choice("ab.S ßİx1") for _ in range(rng.randint(1, 6)))

    for _ in range(10):
        near, leaves = NearMisses(), []
        for i in range(20):
            trigger = parse_automation({"name": "n", "actions": [], "trigger": {
                "expect": [word().strip() or "a"]}}).trigger
            leaves.append(Leaf(f"a{i}", trigger, None))  # type: ignore[arg-type]
            near.add(leaves[-1])
        for leaf in leaves[:5]:
            near.remove(leaf)
        for _ in range(500):
            got = word()
            if any(leaf.expects(got) for leaf in leaves[5:]):
                continue
            variants = _deletions(squash(got))
            wanted = {leaf.id for leaf in leaves[5:] for e in leaf.trigger.expect
                      if variants & _deletions(squash(e)) and not leaf.names(got)
                      and is_near(got, e, squash(got), squash(e))}
            found = near.near(got)
            assert {leaf.id for leaf in (found[0] if found else ())} == wanted, got
