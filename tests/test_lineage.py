"""The causal chain an event carries (events/lineage.py): read from Prefect's carriers,
passed through a flow run an automation starts, and parsed defensively from a header."""

from __future__ import annotations

from tocsin.events import lineage
from tocsin.events.model import Event
from tocsin.jobs.events import flow_run_state_event
from tocsin.jobs.model import FlowRun, State


def test_chain_reads_lineage_then_creator_then_the_events_own_automation():
    ev = Event(event="prefect.automation.action.executed",
               resource={"prefect.resource.id": "prefect.automation.c"},
               related=[*lineage.related(("a", "b")),
                        {"prefect.resource.id": "prefect.automation.t",
                         "prefect.resource.role": "target"}])
    assert lineage.chain_of(ev) == ("a", "b", "c")  # a pause-automation target is no cause


def test_a_flow_run_an_automation_started_carries_the_chain_to_its_state_events():
    run = FlowRun(id="r", name="n", flow_id="f", flow_name="flow", state=State.named("Scheduled"),
                  created_by={"type": "AUTOMATION", "id": "b", "display_value": "B",
                              "lineage": ["a"]})
    ev = flow_run_state_event(run, None)
    assert lineage.chain_of(ev) == ("a", "b")


def test_the_header_keeps_plain_ids_only_and_at_most_max_chain():
    assert lineage.from_header("a-1, b2,,x y,<script>") == ("a-1", "b2")
    assert lineage.from_header(None) == ()
    long = ",".join(f"id{i}" for i in range(200))
    assert len(lineage.from_header(long)) == lineage.MAX_CHAIN
