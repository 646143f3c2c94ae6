"""The causal chain an event carries (automations/lineage.py): read from Prefect's carriers,
passed through a flow run an automation starts, and parsed defensively from a header."""

from __future__ import annotations

from tocsin.automations import lineage
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


def test_the_header_round_trips_a_chain_this_process_signed():
    assert lineage.from_header(lineage.header(("a-1", "b2"))) == ("a-1", "b2")
    long = tuple(f"id{i}" for i in range(200))
    assert lineage.from_header(lineage.header(long)) == long[-lineage.MAX_CHAIN:]


def test_a_header_this_process_did_not_sign_is_ignored():
    """Anyone who can post to a webhook could otherwise forge a chain and pause automations."""
    signed = lineage.header(("a", "b"))
    assert lineage.from_header(None) == ()
    assert lineage.from_header("a,b") == ()  # unsigned
    assert lineage.from_header("a,b,b,b;" + signed.rpartition(";")[2]) == ()  # another chain
    assert lineage.from_header(signed.replace(";", ";0")) == ()  # altered signature


def test_a_signed_header_still_keeps_plain_ids_only():
    ids = "a-1, b2,,x y,<script>"
    assert lineage.from_header(f"{ids};{lineage._signature(ids)}") == ("a-1", "b2")
