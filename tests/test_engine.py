"""The pure engine on virtual time: event triggers, reactive and proactive (§5, decisions)."""

from __future__ import annotations

import uuid
from pathlib import Path

from engine_timeline import T0, Timeline, at, event, ts
from tocsin.automations.files import parse_file

SAMPLES = Path(__file__).parent.parent / "samples" / "automations"


def sample(name: str) -> dict:
    return parse_file(SAMPLES / name)[0].to_dict()


def reactive(**fields):
    return {"type": "event", "posture": "Reactive", "expect": ["x"], **fields}


# -- reactive ----------------------------------------------------------------------------------
def test_woodchonk_three_monax_walks_within_ten_seconds_fire_once():
    tl = Timeline(sample("woodchonk.yaml"))
    monax = {"genus": "Marmota", "species": "monax"}
    tl.emit("animal.walked", 0, "animal.1", labels=monax)
    tl.emit("animal.walked", 1, "animal.2", labels={"genus": "Marmota", "species": "flaviventris"})
    tl.emit("animal.walked", 3, "animal.3", labels=monax)
    assert tl.firings == []
    fired = tl.emit("animal.walked", 6, "animal.4", labels=monax)
    assert len(fired) == 1 and fired[0].triggering_event.resource_id == "animal.4"
    tl.emit("animal.walked", 7, "animal.5", labels=monax)
    assert len(tl.firings) == 1


def test_woodchonk_walks_spread_over_more_than_ten_seconds_do_not_fire():
    tl = Timeline(sample("woodchonk.yaml"))
    monax = {"genus": "Marmota", "species": "monax"}
    for t in (0, 6, 12, 18):
        tl.emit("animal.walked", t, labels=monax)
    # windows: [0-15m, 10) holds 0 and 6; 12 opens [12, 22) with 12 and 18
    assert tl.firings == []
    tl.emit("animal.walked", 21, labels=monax)
    assert tl.times() == [21]


def test_cool_down_until_the_end_of_the_window_that_fired():
    tl = Timeline(reactive(threshold=3, within=10))
    for t in (0, 1, 2):
        tl.emit("x", t)
    assert tl.times() == [2]
    for t in (5, 6, 7):  # before the old window's end: ignored
        tl.emit("x", t)
    assert tl.times() == [2]
    for t in (10, 11, 12):  # the next window is [10, 20)
        tl.emit("x", t)
    assert tl.times() == [2, 12]


def test_window_that_ends_unsatisfied_is_replaced_at_the_next_event():
    tl = Timeline(reactive(threshold=3, within=10))
    for t in (0, 1, 20, 21, 22):
        tl.emit("x", t)
    assert tl.times() == [22]


def test_late_event_within_the_lookback_counts_in_the_first_window():
    tl = Timeline(reactive(threshold=2, within=10))
    tl.emit("x", 1000)
    tl.emit("x", 500, received=1001)  # occurred 500 s before: inside [1000 - 15 min, 1010)
    assert tl.times() == [1001]


def test_event_older_than_the_lookback_does_not_count():
    tl = Timeline(reactive(threshold=2, within=10))
    tl.emit("x", 1000)
    tl.emit("x", 50, received=1001)
    assert tl.firings == []


def test_for_each_partitions_by_primary_and_related_labels_missing_is_empty():
    tl = Timeline(reactive(threshold=2, within=60,
                           for_each=["prefect.resource.id", "related:flow:prefect.resource.id"]))
    flow_a = [{"prefect.resource.id": "flow.a", "prefect.resource.role": "flow"}]
    tl.emit("x", 0, "r1", related=flow_a)
    tl.emit("x", 1, "r2", related=flow_a)
    tl.emit("x", 2, "r1")
    assert tl.firings == []
    tl.emit("x", 3, "r1", related=flow_a)
    tl.emit("x", 4, "r1")
    labels = [f.triggering_labels for f in tl.firings]
    assert labels == [
        {"prefect.resource.id": "r1", "related:flow:prefect.resource.id": "flow.a"},
        {"prefect.resource.id": "r1", "related:flow:prefect.resource.id": ""},
    ]


def test_immediate_threshold_one_fires_on_every_event():
    tl = Timeline(reactive(threshold=1, within=0))
    for t in (0, 1, 2):
        tl.emit("x", t)
    assert tl.times() == [0, 1, 2]


def test_immediate_counts_every_nth_event_however_far_apart():
    tl = Timeline(reactive(threshold=3, within=0))
    for t in (0, 3600, 7200, 86400, 90000, 100000):
        tl.emit("x", t)
    assert tl.times() == [7200, 100000]


def test_negation_works_in_expect():
    tl = Timeline(reactive(expect=["!prefect.flow-run.Completed"],
                           match={"prefect.resource.id": "prefect.flow-run.*"}))
    tl.emit("prefect.flow-run.Completed", 0, "prefect.flow-run.1")
    assert tl.firings == []
    tl.emit("prefect.flow-run.Failed", 1, "prefect.flow-run.1")
    assert tl.times() == [1]


def test_glob_expect_and_resource_match():
    tl = Timeline(reactive(expect=["prefect.*.Failed"], match={"prefect.resource.id": "*.flow-run.*"}))
    tl.emit("prefect.flow-run.Failed", 0, "prefect.flow-run.1")
    tl.emit("prefect.flow-run.Failed", 1, "prefect.task-run.1")
    tl.emit("prefect.flow-run.Completed", 2, "prefect.flow-run.1")
    assert tl.times() == [0]


def test_disabled_automation_never_fires():
    tl = Timeline({"name": "off", "enabled": False, "trigger": reactive(), "actions": []})
    tl.emit("x", 0)
    assert tl.firings == []


# -- after -------------------------------------------------------------------------------------
def test_order_flow_fires_for_the_user_who_completes_only():
    tl = Timeline(sample("order-flow.yaml"))
    tl.emit("order.created", 0, "user.1")
    tl.emit("order.created", 1, "user.2")
    tl.emit("order.complete", 2, "user.3")  # never created: nothing armed
    assert tl.firings == []
    fired = tl.emit("order.complete", 3 * 86400, "user.1")  # days later: within 0 = no limit
    assert len(fired) == 1
    assert fired[0].triggering_labels == {"prefect.resource.id": "user.1"}
    assert len(tl.firings) == 1


def test_expected_event_before_the_arming_event_is_ignored_by_reactive_triggers():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.emit("b", 0)
    tl.emit("a", 1)
    assert tl.firings == []
    tl.emit("b", 2)
    assert tl.times() == [2]


def test_after_window_fires_once_then_needs_a_new_arming_event():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.emit("a", 0)
    tl.emit("b", 1)
    tl.emit("b", 2)
    assert tl.times() == [1]
    tl.emit("a", 3)
    tl.emit("b", 4)
    assert tl.times() == [1, 4]


def test_after_window_that_passes_needs_a_new_arming_event():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.emit("a", 0)
    tl.emit("b", 61)
    assert tl.firings == []
    tl.emit("a", 70)
    tl.emit("b", 71)
    assert tl.times() == [71]


def test_late_expected_event_that_occurred_inside_the_armed_window_counts():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.emit("a", 0)
    tl.emit("b", 50, received=65)
    assert tl.times() == [65]


def test_arming_event_right_after_a_window_ends_opens_a_new_one():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.emit("a", 0)
    tl.emit("a", 61)
    tl.emit("b", 62)
    assert tl.times() == [62]


def test_same_event_in_after_and_expect_fires_on_threshold_plus_one():
    tl = Timeline(reactive(after=["x"], expect=["x"], threshold=2, within=60))
    tl.emit("x", 0)
    tl.emit("x", 1)
    assert tl.firings == []
    tl.emit("x", 2)
    assert tl.times() == [2]


def test_same_event_in_after_and_expect_never_fires_with_within_zero():
    tl = Timeline(reactive(after=["x"], expect=["x"], threshold=1, within=0))
    for t in range(5):
        tl.emit("x", t)
    assert tl.firings == []


def test_threshold_zero_fires_on_the_arming_event():
    tl = Timeline(reactive(after=["a"], expect=[], threshold=0, within=60,
                           match={"prefect.resource.id": "r*"}))
    assert tl.emit("a", 0)


# -- proactive ---------------------------------------------------------------------------------
def proactive(**fields):
    return {"type": "event", "posture": "Proactive", "expect": ["x"], "within": 60, **fields}


def test_plain_proactive_tumbling_windows_fire_at_the_deadline_with_no_event():
    tl = Timeline(proactive())
    assert tl.engine.next_deadline() == ts(60)
    assert tl.tick(59.999) == []
    fired = tl.tick(60)
    assert len(fired) == 1 and fired[0].triggering_event is None
    tl.tick(120)
    assert tl.times() == [60, 120]


def test_plain_proactive_satisfied_window_is_followed_by_the_next():
    tl = Timeline(proactive())
    tl.emit("x", 30)
    tl.tick(60)
    assert tl.firings == []
    tl.emit("x", 110)
    tl.tick(179)
    assert tl.firings == []
    tl.tick(240)
    assert tl.times() == [180, 240]


def test_proactive_firing_resolves_when_the_expected_event_comes():
    tl = Timeline(proactive())
    tl.tick(61)
    resolved = tl.emit("x", 75)
    assert [f.state for f in resolved] == ["resolved"]
    assert resolved[0].triggering_event.event == "x"
    assert tl.times("resolved") == [75]


def test_stuck_flow_fires_for_the_stuck_run_only_then_resolves():
    tl = Timeline(sample("stuck-flow.yaml"))
    running_a = event("prefect.flow-run.Running", 0, "prefect.flow-run.a")
    tl.send(running_a)
    running_b = event("prefect.flow-run.Running", 5, "prefect.flow-run.b")
    tl.send(running_b)
    tl.emit("prefect.flow-run.Completed", 100, "prefect.flow-run.a")
    tl.tick(1804)
    assert tl.firings == []
    fired = tl.tick(1805)
    assert len(fired) == 1
    assert fired[0].triggering_labels == {"prefect.resource.id": "prefect.flow-run.b"}
    assert fired[0].triggering_event.id == running_b.id
    tl.tick(10_000)
    assert len(tl.firings) == 1  # fires once per arming
    tl.emit("prefect.flow-run.Completed", 10_001, "prefect.flow-run.b")
    assert tl.times("resolved") == [10_001]


def test_proactive_after_without_arming_event_never_fires():
    tl = Timeline(proactive(after=["a"]))
    tl.tick(1000)
    assert tl.firings == []


def test_heartbeat_restarts_the_window_and_fires_after_the_last_beat():
    tl = Timeline(proactive(after=["beat"], expect=["beat"], for_each=["prefect.resource.id"]))
    for t in (0, 30, 80):
        tl.emit("beat", t)
    tl.tick(139)
    assert tl.firings == []
    fired = tl.tick(140)
    assert len(fired) == 1 and fired[0].triggering_event.occurred.timestamp() == ts(80)


def test_expected_event_that_arrives_before_its_arming_event_is_held_and_counts():
    tl = Timeline(proactive(after=["start"], expect=["done"], for_each=["prefect.resource.id"]))
    tl.emit("done", 10, "job.1", received=10)
    tl.emit("start", 5, "job.1", received=12)
    tl.tick(1000)
    assert tl.firings == []
    tl.emit("start", 1000, "job.2")
    tl.tick(1060)
    assert tl.times() == [1060]


def test_proactive_with_for_each_and_threshold_above_one():
    tl = Timeline(proactive(expect=["x"], for_each=["prefect.resource.id"], threshold=2))
    tl.emit("x", 0, "r1")
    tl.emit("x", 0, "r2")
    tl.emit("x", 30, "r2")
    tl.tick(60)
    assert [f.triggering_labels["prefect.resource.id"] for f in tl.firings] == ["r1"]


def test_next_deadline_is_the_earliest_window_end():
    tl = Timeline(proactive(after=["a"], for_each=["prefect.resource.id"]), proactive(within=300))
    tl.emit("a", 10, "r1")
    tl.emit("a", 5, "r2")
    assert tl.engine.next_deadline() == ts(65)


# -- ordering ----------------------------------------------------------------------------------
def test_follower_waits_for_its_leader():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    a = event("a", 0, received=2)
    tl.send(event("b", 1, follows=a.id, received=1))
    assert tl.firings == []
    tl.send(a)
    assert tl.times() == [2]


def test_without_follows_the_early_event_is_lost():
    tl = Timeline(reactive(after=["a"], expect=["b"], within=60))
    tl.send(event("b", 1, received=1))
    tl.send(event("a", 0, received=2))
    assert tl.firings == []


def test_lost_follower_is_evaluated_after_fifteen_minutes():
    tl = Timeline(reactive(expect=["b"]))
    tl.send(event("b", 0, follows=uuid.UUID(int=1)))
    tl.tick(899)
    assert tl.firings == []
    tl.tick(900)
    assert tl.times() == [900]


def test_duplicate_event_id_is_ignored():
    tl = Timeline(reactive(threshold=2, within=60))
    e = event("x", 0)
    tl.send(e)
    tl.send(e)
    assert tl.firings == []
    tl.emit("x", 1)  # a second, distinct event is counted
    assert tl.times() == [1]


# -- the loop guard ----------------------------------------------------------------------------
def test_busy_automation_is_not_a_loop_1000_resources_x_3_fire_1000_times():
    """The rate guard paused this after 300 firings (issue 13): no rate pauses a non-loop."""
    tl = Timeline(reactive(expect=["order.step"], threshold=3, within=60,
                           for_each=["prefect.resource.id"]))
    for i in range(3):
        for r in range(1_000):
            tl.emit("order.step", i * 0.01, f"order.{r}")
    assert len(tl.firings) == 1_000
    assert tl.engine.take_paused() == []


def _caused_by(tl: Timeline, firing, t: float):
    """The automation's own state-change event fed back in, as the daemon does."""
    from tocsin.automations.emitted import state_change_event

    automation = next(a for a in tl.automations if a.id == firing.automation_id)
    ev = state_change_event(automation, firing)
    ev.received = at(t)
    return tl.send(ev)


def test_an_automation_triggered_through_its_own_events_is_paused_with_the_chain():
    tl = Timeline(reactive(expect=["x", "prefect.automation.triggered"], threshold=1, within=0))
    aid = tl.automations[0].id
    fired = tl.emit("x", 0)
    for step in range(1, 10):
        if not fired:
            break
        fired = _caused_by(tl, fired[0], step)
    assert len(tl.firings) == 3  # loop_depth 3: the chain may hold it 3 times
    [(paused, reason, chain)] = tl.engine.take_paused()
    assert paused == aid and "loop guard" in reason
    assert chain == (aid, aid, aid, aid)
    assert not tl.engine.enabled(aid)


def test_a_loop_through_two_automations_pauses_the_one_that_comes_round_again():
    a = {"name": "a", "actions": [], "trigger": {"expect": ["x", "prefect.automation.triggered"],
                                                 "match": {"prefect.resource.id": ["r1", "*b"]},
                                                 "threshold": 1, "within": 0}}
    b = {"name": "b", "actions": [], "trigger": {"expect": ["prefect.automation.triggered"],
                                                 "threshold": 1, "within": 0,
                                                 "match": {"prefect.resource.id": "*a"}}}
    tl = Timeline(a, b)
    ida, idb = (x.id for x in tl.automations)
    # automation ids end in their names so each matches only the other's events
    for x, suffix in zip(tl.automations, "ab", strict=True):
        tl.engine.unload(x.id)
        x.id = f"{x.id}-{suffix}"
        tl.engine.load(x, ts(0))
    fired = tl.emit("x", 0)
    step = 1
    while fired and step < 20:
        fired = [f for firing in fired for f in _caused_by(tl, firing, step)]
        step += 1
    [(paused, _, chain)] = tl.engine.take_paused()
    assert paused == f"{ida}-a"
    assert chain == tuple([f"{ida}-a", f"{idb}-b"] * 3 + [f"{ida}-a"])


def test_loop_depth_none_turns_the_guard_off():
    tl = Timeline(reactive(expect=["x", "prefect.automation.triggered"], threshold=1, within=0),
                  loop_depth=None)
    fired = tl.emit("x", 0)
    for step in range(1, 11):
        fired = _caused_by(tl, fired[0], step)
    assert len(tl.firings) == 11 and tl.engine.take_paused() == []


def test_firing_at_is_processing_time_and_labels_are_strings():
    tl = Timeline(reactive())
    fired = tl.emit("x", 5, received=7)
    assert fired[0].at == T0.replace(second=7)


# -- matching through triggers (§2, §15) -------------------------------------------------------
def test_match_related_by_role_and_a_list_of_specs_each_satisfied():
    tl = Timeline(reactive(match_related=[
        {"prefect.resource.role": "flow", "prefect.resource.id": "prefect.flow.etl"},
        {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.prod"},
    ]))
    flow = {"prefect.resource.id": "prefect.flow.etl", "prefect.resource.role": "flow"}
    tag = {"prefect.resource.id": "prefect.tag.prod", "prefect.resource.role": "tag"}
    wrong_role = {"prefect.resource.id": "prefect.flow.etl", "prefect.resource.role": "tag"}
    tl.emit("x", 0, related=[flow])
    tl.emit("x", 1, related=[wrong_role, tag])
    assert tl.firings == []
    tl.emit("x", 2, related=[tag, flow])
    assert tl.times() == [2]


def test_negated_label_never_matches_a_missing_label():
    tl = Timeline(reactive(match={"env": "!dev"}))
    tl.emit("x", 0)
    tl.emit("x", 1, labels={"env": "dev"})
    assert tl.firings == []
    tl.emit("x", 2, labels={"env": "prod"})
    assert tl.times() == [2]


def test_work_queue_unhealthy_fires_when_not_healthy_again_in_time():
    tl = Timeline(proactive(after=["prefect.work-queue.unhealthy"],
                            expect=["prefect.work-queue.healthy"],
                            for_each=["prefect.resource.id"], within=300,
                            match={"prefect.resource.id": "prefect.work-queue.*"}))
    tl.emit("prefect.work-queue.unhealthy", 0, "prefect.work-queue.a")
    tl.emit("prefect.work-queue.unhealthy", 0, "prefect.work-queue.b")
    tl.emit("prefect.work-queue.healthy", 120, "prefect.work-queue.a")
    tl.tick(300)
    assert [f.triggering_labels["prefect.resource.id"] for f in tl.firings] == \
        ["prefect.work-queue.b"]


def test_a_clock_jump_fires_a_plain_proactive_trigger_once_not_per_missed_window():
    tl = Timeline(proactive(within=10))
    tl.tick(10_000)  # e.g. the daemon was down for hours
    assert tl.times() == [10]
    assert tl.engine.next_deadline() == ts(10_010)


def test_deadline_heap_does_not_grow_with_replaced_buckets():
    tl = Timeline(reactive(threshold=1, within=0))
    for i in range(30_000):
        tl.emit("x", i * 0.001)
    assert len(tl.firings) == 30_000
    assert tl.engine.stats().heap <= 10_001
    assert tl.engine.stats().wheel <= 10_001  # reactive windows wait in the wheel instead


def test_a_reactive_window_is_forgotten_after_its_expiry_even_between_wheel_slots():
    """Reactive expiries wait in a coarse wheel (whole seconds); an event arriving after the
    deadline but before the slot is processed must still find the window gone."""
    tl = Timeline(reactive(threshold=2, within=10))
    tl.emit("x", 0)
    deadline = tl.engine.windows(tl.automations[0].id)[0].bucket.deadline
    assert tl.engine.next_deadline() == int(deadline) + 1
    late = deadline - ts(0) + 0.5  # past the deadline, inside the slot's second
    tl.emit("x", 5, received=late)  # occurred inside the old window: too late to count
    assert tl.firings == []
    tl.tick(late + 1)
    assert tl.engine.next_deadline() is not None  # the new window's expiry


def test_a_commit_with_nothing_loaded_is_only_remembered_and_followers_still_wait():
    """process_all's shortcut (no trigger, metric or waiting follower): the ids are seen, and
    an event whose leader is missing still waits for it."""
    from tocsin.automations.engine import Engine

    engine = Engine()
    a, b = event("a", 0), event("b", 0)
    orphan = event("c", 0, follows=uuid.UUID(int=7))
    assert engine.process_all([a, b, orphan], ts(0)) == []
    assert engine.has_seen(a.id) and engine.has_seen(b.id)
    assert not engine.has_seen(orphan.id) and engine.stats().followers == 1
