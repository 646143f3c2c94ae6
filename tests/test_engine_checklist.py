"""Acceptance checks from prefect-semantics §15 (and §2, §5-§7) that no other test pinned.

All on virtual time with the pure engine (engine_timeline); nothing sleeps.
"""

from __future__ import annotations

import uuid

from engine_timeline import T0, Timeline, at, event, ts
from tocsin.automations.emitted import state_change_event
from tocsin.automations.model import parse_automation


def reactive(**fields):
    return {"type": "event", "posture": "Reactive", "expect": ["x"], **fields}


def proactive(**fields):
    return {"type": "event", "posture": "Proactive", "expect": ["x"], "within": 60, **fields}


def leaf(name: str, **fields):
    return {"type": "event", "expect": [name], "posture": "Reactive", **fields}


# -- matching through triggers (§2.4) ------------------------------------------------------------
def test_empty_expect_counts_every_event_name_that_passes_match():
    tl = Timeline(reactive(expect=[], threshold=2, within=60,
                           match={"prefect.resource.id": "job.*"}))
    tl.emit("job.started", 0, "job.1")
    tl.emit("anything.else", 1, "other.1")  # filtered out by match
    assert tl.firings == []
    fired = tl.emit("job.heartbeat", 2, "job.1")
    assert len(fired) == 1 and fired[0].triggering_event.event == "job.heartbeat"


def test_events_named_only_in_after_arm_but_are_never_counted():
    tl = Timeline(reactive(after=["a"], expect=["b"], threshold=2, within=60))
    for t in (0, 1, 2):
        tl.emit("a", t)
    tl.emit("b", 3)
    assert tl.firings == []
    tl.emit("b", 4)
    assert tl.times() == [4]


def test_negation_works_in_after():
    # decision 6: "!b" arms on every event name but b
    tl = Timeline(reactive(after=["!b"], expect=["b"], within=60))
    tl.emit("b", 0)  # nothing armed yet: ignored
    assert tl.firings == []
    tl.emit("a", 1)
    tl.emit("b", 2)
    assert tl.times() == [2]


def test_empty_match_related_spec_is_satisfied_without_related_resources():
    tl = Timeline(reactive(match_related={}), reactive(match_related=[{}]))
    fired = tl.emit("x", 0)
    assert len(fired) == 2


def test_related_for_each_reads_the_first_resource_in_the_role_only():
    # §1 find_resource_label: no fall-back to a later resource in the same role
    tl = Timeline(reactive(for_each=["related:flow:env"]))
    fired = tl.emit("x", 0, related=[
        {"prefect.resource.id": "flow.a", "prefect.resource.role": "flow"},
        {"prefect.resource.id": "flow.b", "prefect.resource.role": "flow", "env": "prod"}])
    assert fired[0].triggering_labels == {"related:flow:env": ""}


# -- reactive and after (§5.2-§5.4) --------------------------------------------------------------
def test_second_arming_event_inside_an_open_window_does_not_restart_it():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.emit("a", 0)
    tl.emit("a", 30)  # "ensure" keeps [0, 60)
    tl.emit("b", 70)
    assert tl.firings == []


# -- proactive (§5.4) ------------------------------------------------------------------------------
def test_heartbeat_terminal_event_satisfies_the_window():
    tl = Timeline(proactive(after=["beat"], expect=["beat", "done"],
                            for_each=["prefect.resource.id"]))
    tl.emit("beat", 0)
    tl.emit("beat", 30)
    tl.emit("done", 50)
    tl.emit("beat", 40, "r2")  # no terminal event: its window fires
    tl.tick(1000)
    assert [f.triggering_labels["prefect.resource.id"] for f in tl.firings] == ["r2"]


def test_proactive_with_for_each_no_after_and_threshold_one_never_fires():
    # §5.4 / §13.5: the docs' "Cancel Long Running Flows" can never fire
    tl = Timeline(proactive(expect=["prefect.flow-run.Completed"],
                            for_each=["prefect.resource.id"]))
    tl.emit("prefect.flow-run.Completed", 0, "prefect.flow-run.a")
    tl.tick(10_000)
    assert tl.firings == []


def test_plain_proactive_window_starts_afresh_when_the_automation_is_enabled():
    tl = Timeline(proactive())
    aid = tl.automations[0].id
    tl.tick(30)
    tl.engine.set_enabled(aid, False, ts(30))
    tl.tick(200)
    assert tl.firings == []
    tl.engine.set_enabled(aid, True, ts(200))
    tl.tick(259)
    assert tl.firings == []
    tl.tick(260)
    assert tl.times() == [260]


def test_proactive_firing_without_an_event_has_a_null_triggering_event_and_labels():
    tl = Timeline(proactive())
    [fired] = tl.tick(60)
    assert fired.triggering_event is None and fired.triggering_labels == {}


def test_proactive_firing_carries_the_last_counted_event():
    tl = Timeline(proactive(threshold=2))
    counted = event("x", 10)
    tl.send(counted)
    [fired] = tl.tick(60)
    assert fired.triggering_event.id == counted.id


def test_a_backlog_received_before_the_deadline_is_evaluated_before_it_fires():
    # decision 1: events are evaluated at their received time, so a backlog read late (the
    # daemon catching up after a restart) still counts in the window it was accepted in
    tl = Timeline(proactive(after=["a"], expect=["x"], for_each=["prefect.resource.id"]))
    tl.emit("a", 10, "r1")
    tl.emit("x", 30, "r1")  # no tick in between: read from the backlog
    tl.emit("a", 10, "r2")  # armed, never satisfied: fires
    fired = tl.tick(500)
    assert [f.triggering_labels["prefect.resource.id"] for f in fired] == ["r2"]


def test_after_a_clock_jump_the_window_following_a_satisfied_one_still_fires_once():
    # decision 4 with the engine's catch-up rule: [0, 60) is satisfied, [60, 120) ends with
    # nothing in it while the daemon is down; at start-up it fires once, then windows restart
    tl = Timeline(proactive())
    tl.emit("x", 30)
    fired = tl.tick(500)
    assert [f.at.timestamp() for f in fired] == [ts(120)]
    assert tl.engine.next_deadline() == ts(560)


# -- decision 2: no sweep, but an idle TTL per bucket ---------------------------------------------
def test_immediate_count_is_forgotten_after_the_idle_ttl():
    tl = Timeline(reactive(threshold=2, within=0), idle_ttl=100)
    tl.emit("x", 0)
    tl.emit("x", 99)
    assert tl.times() == [99]
    tl.emit("x", 200)
    tl.tick(301)  # idle for longer than the TTL: the count of 1 is dropped
    tl.emit("x", 302)
    assert tl.times() == [99]
    tl.emit("x", 303)
    assert tl.times() == [99, 303]


def test_after_with_within_zero_stays_armed_until_the_idle_ttl():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=0,
                           for_each=["prefect.resource.id"]), idle_ttl=1000)
    tl.emit("a", 0, "k1")
    tl.emit("a", 0, "k2")
    tl.emit("b", 999, "k1")  # long after the 60 s of Prefect's sweep
    assert tl.times() == [999]
    tl.tick(1001)
    tl.emit("b", 1002, "k2")
    assert tl.times() == [999]


# -- ordering (§5.7) -------------------------------------------------------------------------------
def test_a_chain_of_followers_is_released_in_order_when_the_first_leader_comes():
    tl = Timeline(reactive(after=["a"], expect=["c"], within=60),
                  reactive(after=["a"], expect=["b"], within=60))
    a = event("a", 0, received=3)
    b = event("b", 1, follows=a.id, received=2)
    c = event("c", 2, follows=b.id, received=1)
    tl.send(c)
    tl.send(b)
    assert tl.firings == []
    tl.send(a)
    assert sorted(f.triggering_event.event for f in tl.firings) == ["b", "c"]


def test_an_event_that_follows_itself_is_processed_at_once():
    tl = Timeline(reactive())
    eid = uuid.uuid4()
    assert tl.send(event("x", 0, id=eid, follows=eid))


# -- composites (§6) -------------------------------------------------------------------------------
def compound(require, *children, within=None):
    return {"type": "compound", "require": require, "triggers": list(children), "within": within}


def sequence(*children, within=None):
    return {"type": "sequence", "triggers": list(children), "within": within}


def test_latest_firing_per_child_wins_also_for_within():
    tl = Timeline(compound("all", leaf("a"), leaf("b"), within=10))
    tl.emit("a", 0)
    tl.emit("a", 8)
    fired = tl.emit("b", 15)  # the a of t=0 is too old, the one of t=8 is not
    assert len(fired) == 1
    assert [f.triggering_event.occurred for f in fired[0].triggering_firings] == [at(8), at(15)]


def test_sequence_out_of_order_duplicates_replace_their_slot_until_the_order_is_right():
    tl = Timeline(sequence(leaf("a"), leaf("b"), leaf("c")))
    for name, t in (("a", 0), ("b", 1), ("a", 2), ("c", 3), ("b", 4)):
        tl.emit(name, t)
        assert tl.firings == [], (name, t)
    fired = tl.emit("c", 5)
    assert [f.triggering_event.occurred for f in fired[0].triggering_firings] == \
        [at(2), at(4), at(5)]


def test_composite_within_is_processing_time_not_event_time():
    tl = Timeline(compound("all", leaf("a"), leaf("b"), within=10))
    tl.emit("a", 0, received=100)
    tl.emit("b", 1000, received=101)  # 1000 s apart in event time, 1 s in processing time
    assert tl.times() == [101]


def test_compound_require_one_fires_at_once_and_ignores_within():
    tl = Timeline(compound(1, leaf("a"), leaf("b"), within=5))
    tl.emit("a", 0)
    tl.emit("b", 100)
    assert tl.times() == [0, 100]
    assert tl.engine.stats().composite_slots == 0


# -- lifecycle (§3) --------------------------------------------------------------------------------
def _woodchonk() -> dict:
    return {"name": "w", "trigger": reactive(threshold=3, within=60), "actions": []}


def test_pause_and_resume_keep_window_state():
    tl = Timeline(_woodchonk())
    aid = tl.automations[0].id
    tl.emit("x", 0)
    tl.emit("x", 1)
    tl.engine.set_enabled(aid, False, ts(2))
    tl.emit("x", 3)  # paused: not seen
    tl.engine.set_enabled(aid, True, ts(4))
    assert tl.firings == []
    tl.emit("x", 5)
    assert tl.times() == [5]


def test_an_update_regenerates_trigger_ids_and_discards_window_state():
    tl = Timeline(_woodchonk())
    aid = tl.automations[0].id
    tl.emit("x", 0)
    tl.emit("x", 1)
    updated = parse_automation(_woodchonk())
    updated.id = aid
    assert updated.trigger.id != tl.automations[0].trigger.id
    tl.engine.load(updated, ts(2))
    assert tl.engine.stats().buckets == 0
    tl.emit("x", 3)
    tl.emit("x", 4)
    assert tl.firings == []
    tl.emit("x", 5)
    assert tl.times() == [5]


def test_unload_forgets_every_piece_of_state():
    tl = Timeline(_woodchonk(), sequence(leaf("a"), leaf("b")))
    tl.emit("x", 0)
    tl.emit("a", 1)
    for automation in tl.automations:
        tl.engine.unload(automation.id)
    assert tl.engine.stats().buckets == 0 and tl.engine.stats().composite_slots == 0
    tl.emit("x", 2)
    tl.emit("x", 3)
    tl.emit("b", 4)
    assert tl.firings == []


# -- the state-change event (§7) -------------------------------------------------------------------
def test_triggered_event_shape_for_a_reactive_firing():
    tl = Timeline(reactive(for_each=["prefect.resource.id", "env"]))
    [firing] = tl.emit("x", 5, "r1")
    automation = tl.automations[0]
    ev = state_change_event(automation, firing)
    assert ev.event == "prefect.automation.triggered"
    assert ev.occurred == firing.at == at(5)
    assert ev.resource == {"prefect.resource.id": f"prefect.automation.{automation.id}",
                           "prefect.resource.name": automation.name,
                           "prefect.posture": "Reactive"}
    assert ev.related == [{"prefect.resource.id": f"prefect.event.{firing.triggering_event.id}",
                           "prefect.resource.role": "triggering-event"}]
    assert ev.payload["triggering_labels"] == {"env": "", "prefect.resource.id": "r1"}
    assert ev.payload["triggering_event"]["id"] == str(firing.triggering_event.id)


def test_triggered_and_resolved_events_of_a_proactive_firing_without_an_event():
    tl = Timeline(proactive())
    [firing] = tl.tick(60)
    ev = state_change_event(tl.automations[0], firing)
    assert ev.resource["prefect.posture"] == "Proactive"
    assert ev.related == []
    assert ev.payload == {"triggering_labels": {}, "triggering_event": None}
    [resolved] = tl.emit("x", 61)
    ev = state_change_event(tl.automations[0], resolved)
    assert ev.event == "prefect.automation.resolved" and ev.occurred == at(61)


def test_composite_triggered_event_has_no_posture_and_no_labels():
    tl = Timeline(compound("all", leaf("a", for_each=["prefect.resource.id"]), leaf("b")))
    tl.emit("a", 0)
    [firing] = tl.emit("b", 1)
    ev = state_change_event(tl.automations[0], firing)
    assert "prefect.posture" not in ev.resource
    assert ev.payload["triggering_labels"] == {}
    assert ev.payload["triggering_event"]["event"] == "b"
    assert ev.occurred == T0.replace(second=1)
