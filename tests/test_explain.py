"""Explain (issue 17) on the pure engine, virtual time: every verdict, computed by the
engine's own matching code and tried on a scratch copy that leaves the engine untouched."""

from __future__ import annotations

import copy

import msgspec
from engine_timeline import Timeline, event
from test_engine import sample
from test_engine_composite import compound, leaf, sequence
from tocsin.automations.explain import explain
from tocsin.events.nearest import nearest, one_edit_apart

MONAX = {"genus": "Marmota", "species": "monax"}


def explained(tl: Timeline, ev, i: int = 0) -> dict:
    return explain(tl.engine, tl.automations[i].id, ev)


def labels(doc: dict, t: int = 0) -> dict:
    return {lab["label"]: lab for lab in doc["triggers"][t]["match"]}


def test_nearest_value_by_case_whitespace_or_one_edit():
    assert nearest("Monax", "monax") == ("monax", "case")
    assert nearest("mon ax", ["x", "monax"]) == ("monax", "whitespace")
    assert nearest("animal.walkd", ["animal.walked"]) == ("animal.walked", "one edit")
    assert nearest("animal.wolked", "animal.walked") == ("animal.walked", "one edit")
    assert nearest("animal.ran", "animal.walked") is None
    assert nearest("monax", "mon*") is None  # a glob has no single value to be near
    assert one_edit_apart("ab", "abc") and one_edit_apart("abc", "ac")
    assert not one_edit_apart("abc", "abc") and not one_edit_apart("abc", "cab")


def test_species_monax_with_a_capital_m_is_a_match_failure_with_its_nearest_value():
    tl = Timeline(sample("woodchonk.yaml"))
    doc = explained(tl, event("animal.walked", 1, labels={**MONAX, "species": "Monax"}))
    species = labels(doc)["species"]
    assert (species["ok"], species["got"], species["nearest"], species["differs_by"]) == (
        False, "Monax", "monax", "case")
    assert labels(doc)["genus"]["ok"] is True
    assert doc["triggers"][0]["expect"]["ok"] is True
    assert doc["outcome"] == "ignored: match failed on species"


def test_animal_walkd_is_an_expect_failure_nearest_animal_walked():
    tl = Timeline(sample("woodchonk.yaml"))
    doc = explained(tl, event("animal.walkd", 1, labels=MONAX))
    expect = doc["triggers"][0]["expect"]
    assert (expect["ok"], expect["nearest"], expect["differs_by"]) == (
        False, "animal.walked", "one edit")
    assert doc["outcome"] == "ignored: the name is not expected"


def test_counting_then_would_have_fired_and_the_engine_is_untouched():
    tl = Timeline(sample("woodchonk.yaml"))
    tl.emit("animal.walked", 0, "animal.1", labels=MONAX)
    tl.engine.take_changes()
    aid = tl.automations[0].id
    before = copy.deepcopy(msgspec.to_builtins([w.bucket for w in tl.engine.windows(aid)]))
    doc = explained(tl, event("animal.walked", 1, labels=MONAX))
    assert doc["triggers"][0]["outcome"] == "counted (2 of 3)"
    assert doc["triggers"][0]["window"]["count"] == 1
    assert doc["triggers"][0]["window_after"]["count"] == 2
    assert msgspec.to_builtins([w.bucket for w in tl.engine.windows(aid)]) == before
    assert not tl.engine.has_changes
    tl.emit("animal.walked", 2, labels=MONAX)
    doc = explained(tl, event("animal.walked", 3, labels=MONAX))
    assert doc["outcome"] == "would have fired at 2026-01-01T00:00:02+00:00"
    assert doc["fired"][0]["state"] == "triggered"
    assert tl.firings == []


def test_an_event_already_counted_says_so():
    tl = Timeline(sample("woodchonk.yaml"))
    ev = event("animal.walked", 0, labels=MONAX)
    tl.send(ev)
    assert explained(tl, ev)["triggers"][0]["outcome"] == "already counted in this window"


def test_paused_automation_is_ignored_but_criteria_still_shown():
    tl = Timeline(sample("woodchonk.yaml"))
    tl.engine.set_enabled(tl.automations[0].id, False, 0)
    doc = explained(tl, event("animal.walked", 1, labels=MONAX))
    assert doc["outcome"] == "ignored: automation paused"
    assert doc["triggers"][0]["resource_ok"] is True


def test_after_armed_by_which_event_and_when():
    trigger = {"after": ["start"], "expect": ["done"], "posture": "Proactive", "within": 60,
               "for_each": ["prefect.resource.id"]}
    tl = Timeline(trigger)
    doc = explained(tl, event("done", 1))
    assert doc["triggers"][0]["armed"] == {"armed": False}
    assert doc["triggers"][0]["after"]["ok"] is False
    assert doc["triggers"][0]["outcome"].startswith("held")
    arm = event("start", 5)
    doc = explained(tl, arm)
    assert doc["triggers"][0]["outcome"].startswith(
        "armed the window until 2026-01-01T00:01:05+00:00 (0 of 1 expected; would fire at")
    tl.send(arm)
    doc = explained(tl, event("done", 6))
    trig = doc["triggers"][0]
    assert trig["armed"] == {"armed": True, "since": "2026-01-01T00:00:05+00:00", "by": str(arm.id)}
    assert trig["for_each"] == {"prefect.resource.id": "r1"}
    assert trig["outcome"].startswith("counted (1 of 1 expected: nothing fires at")
    assert trig["window"]["deadline"] == "2026-01-01T00:01:05+00:00"


def test_proactive_firing_then_the_expected_event_resolves_it():
    tl = Timeline({"after": ["start"], "expect": ["done"], "posture": "Proactive", "within": 10})
    tl.emit("start", 0)
    tl.tick(11)
    assert tl.times() == [10]
    doc = explained(tl, event("done", 12, received=12))
    assert doc["triggers"][0]["outcome"] == "resolved the open proactive firing"
    assert doc["outcome"].startswith("would have resolved at")


def test_for_each_bucket_is_the_events_own():
    tl = Timeline({"expect": ["x"], "threshold": 2, "within": 60, "for_each": ["host"]})
    tl.emit("x", 0, labels={"host": "a"})
    doc = explained(tl, event("x", 1, labels={"host": "b"}))
    assert doc["triggers"][0]["for_each"] == {"host": "b"}
    assert doc["triggers"][0]["window"] is None
    assert doc["triggers"][0]["outcome"].startswith("opened a window until")
    doc = explained(tl, event("x", 1, labels={"host": "a"}))
    assert doc["outcome"].startswith("would have fired")


def test_match_related_per_role_with_the_closest_resource():
    tl = Timeline({"expect": ["x"], "match_related": [
        {"prefect.resource.role": "flow", "prefect.resource.name": "etl"},
        {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.prod"}]})
    related = [{"prefect.resource.id": "f1", "prefect.resource.role": "flow",
                "prefect.resource.name": "ETL"},
               {"prefect.resource.id": "prefect.tag.prod", "prefect.resource.role": "tag"}]
    doc = explained(tl, event("x", 1, related=related))
    flow, tag = doc["triggers"][0]["match_related"]
    assert (flow["role"], flow["ok"], tag["role"], tag["ok"]) == ("flow", False, "tag", True)
    name = next(lab for lab in flow["labels"] if lab["label"] == "prefect.resource.name")
    assert (name["got"], name["nearest"]) == ("ETL", "etl")
    assert doc["outcome"] == "ignored: match failed on related flow"


def test_compound_path_and_slots():
    tl = Timeline(compound("all", leaf("a"), leaf("b"), leaf("c")))
    tl.emit("a", 0)
    doc = explained(tl, event("b", 1))
    b = next(t for t in doc["triggers"] if t["path"] == "trigger.triggers[1]")
    assert b["outcome"] == "fired its part of the compound (2 of 3 needed)"
    (node,) = doc["composites"]
    assert node["had"] == ["trigger.triggers[0]"]
    assert node["has"] == ["trigger.triggers[0]", "trigger.triggers[1]"]
    assert doc["fired"] == []
    tl.emit("b", 1)
    assert explained(tl, event("c", 2))["outcome"].startswith("would have fired")


def test_sequence_first_step_arms_it_and_nested_paths():
    tl = Timeline(sequence(leaf("a"), compound("any", leaf("b"), leaf("c"))))
    doc = explained(tl, event("a", 0))
    assert doc["composites"][0]["has"] == ["trigger.triggers[0]"]
    assert doc["triggers"][0]["outcome"] == "armed the sequence (step 1 of 2)"
    tl.emit("a", 0)
    doc = explained(tl, event("c", 1))
    c = next(t for t in doc["triggers"] if t["path"] == "trigger.triggers[1].triggers[1]")
    assert c["outcome"] == "fired its part: the compound fired"
    assert doc["outcome"].startswith("would have fired")


def test_tumbling_proactive_window_counts_and_would_not_fire():
    tl = Timeline({"expect": ["beat"], "posture": "Proactive", "within": 30, "threshold": 1})
    doc = explained(tl, event("beat", 5))
    assert doc["triggers"][0]["outcome"].startswith("counted (1 of 1 expected: nothing fires")


def test_came_close_is_some_telling_criterion_held_or_a_near_value():
    from tocsin.automations.explain import came_close, criteria

    tl = Timeline(sample("woodchonk.yaml"), {"expect": ["order.paid"]},
                  {"match": {"prefect.resource.id": "db.1"}})
    woodchonk, paid, anything_on_db = (tl.engine.compiled(a.id).leaves[0]
                                       for a in tl.automations)

    def close(leaf, ev):
        return came_close(leaf, criteria(leaf, ev))

    walkd = event("animal.walkd", 0, labels={"genus": "Felis"})
    assert close(woodchonk, walkd)  # the name is one edit off
    assert not close(paid, walkd) and not close(anything_on_db, walkd)
    assert close(paid, event("order.paid", 0))
    assert close(anything_on_db, event("anything", 0, "db.1"))
    assert close(anything_on_db, event("anything", 0, "db.9"))  # one edit off
    assert not close(anything_on_db, event("anything", 0, "web.12"))
