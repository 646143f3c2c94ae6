"""Action validation (every error with its path), Prefect's defaults, target inference with
Prefect's reasons, run-deployment parameter rendering and the replay preview. Pure: no daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tocsin.actions.context import template_context
from tocsin.actions.model import TYPE_NAMES, parse_actions
from tocsin.actions.render import preview, preview_firing, render_parameters
from tocsin.automations.emitted import state_change_event
from tocsin.automations.model import parse_automation
from tocsin.errors import InvalidInput
from tocsin.events.model import event_from_dict
from tocsin.firing import Firing

RUN = "8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"
DEP = "9a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"
POOL = "7a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"


def errors_of(actions: list) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as info:
        parse_actions(actions, "actions")
    return info.value.errors


def test_every_prefect_action_type_parses_with_defaults():
    assert set(TYPE_NAMES) == {
        "do-nothing", "run-deployment", "pause-deployment", "resume-deployment",
        "cancel-flow-run", "suspend-flow-run", "resume-flow-run", "delete-flow-run",
        "change-flow-run-state", "pause-work-pool", "resume-work-pool", "pause-work-queue",
        "resume-work-queue", "pause-automation", "resume-automation", "send-notification",
        "call-webhook"}
    [send, hook, run, change] = parse_actions([
        {"type": "send-notification", "block": "ops", "body": "hi"},
        {"type": "call-webhook", "block_document_id": DEP},
        {"type": "run-deployment", "deployment_id": DEP},
        {"type": "change-flow-run-state", "state": "CANCELLED"}])
    assert send.subject == "Prefect automated notification"
    assert hook.payload == ""
    assert (run.source, run.parameters, run.job_variables, run.schedule_after) == \
        ("selected", None, None, 0)
    assert (change.name, change.message, change.force) == (None, None, False)
    assert send.to_dict()["type"] == "send-notification"


def test_every_error_is_reported_with_its_path():
    errors = errors_of([
        {"type": "send-notification", "block": "ops", "body": "{{ x }"},
        {"type": "pause-automation", "source": "inferred", "automation_id": DEP},
        {"type": "pause-deployment"},
        {"type": "nope"},
        "text",
        {"type": "run-deployment", "source": "inferred", "schedule_after": -1,
         "parameters": {"a": "{{ x }", "b": [{"c": "{% for %}"}]}},
        {"type": "do-nothing", "extra": 1},
        {"type": "send-notification", "block": "ops"},
        {"type": "call-webhook"},
        {"type": "call-webhook", "block": "b", "url": "http://x"},
        {"type": "pause-work-queue", "work_queue_id": "not-a-uuid"},
    ])
    paths = [p for p, _ in errors]
    assert paths == ["actions[0].body", "actions[1].automation_id",
                     "actions[2].deployment_id", "actions[3].type", "actions[4]",
                     "actions[5].schedule_after", "actions[5].parameters.a",
                     "actions[5].parameters.b[0].c", "actions[6]", "actions[7]",
                     "actions[8].block_document_id", "actions[9].url",
                     "actions[10].work_queue_id"]
    messages = dict(errors)
    assert messages["actions[0].body"] == "'body' is not a valid template: line 1: unexpected '}'"
    assert messages["actions[1].automation_id"] == "automation_id is not allowed"
    assert messages["actions[2].deployment_id"] == "deployment_id is required"
    assert messages["actions[5].schedule_after"] == "schedule_after must be non-negative"
    assert "unknown field `extra`" in messages["actions[6]"]
    assert "missing required field `body`" in messages["actions[7]"]


def test_template_loop_limits_are_checked_at_save_time():
    body = "{% for a in x %}{% for b in a %}{% for c in b %}{% endfor %}{% endfor %}{% endfor %}"
    [(path, message)] = errors_of([{"type": "send-notification", "block": "b", "body": body}])
    assert path == "actions[0].body" and "depth of 3" in message


def test_engine_automation_model_uses_these_errors():
    with pytest.raises(InvalidInput) as info:
        parse_automation({"name": "x", "trigger": {"expect": ["a"]},
                          "actions": [{"type": "pause-automation"}]})
    assert ("actions[0].automation_id", "automation_id is required") in info.value.errors


# -- inference and preview ----------------------------------------------------------------

def _event(resource_id: str, related: list[dict] | None = None, **payload):
    return event_from_dict({"event": "prefect.flow-run.Failed", "resource": {
        "prefect.resource.id": resource_id}, "related": related or [], "payload": payload})


def _context(event, labels=None):
    firing = Firing(id="f", automation_id="a", trigger_id="t", state="triggered",
                    at=datetime.now(UTC), triggering_event=event,
                    triggering_labels=labels or {})
    return template_context({"id": "a", "name": "auto"}, firing, event)


def _one(action: dict, event, labels=None) -> dict:
    return preview(parse_actions([action])[0], _context(event, labels))


def test_inferred_targets_and_prefects_failure_reasons():
    event = _event(f"prefect.flow-run.{RUN}", [
        {"prefect.resource.id": f"prefect.deployment.{DEP}", "prefect.resource.role": "deployment"},
        {"prefect.resource.id": f"prefect.work-pool.{POOL}", "prefect.resource.role": "work-pool"}])
    assert _one({"type": "pause-deployment", "source": "inferred"}, event) == \
        {"type": "pause-deployment", "deployment_id": DEP}
    assert _one({"type": "resume-work-pool", "source": "inferred"}, event)["work_pool_id"] == POOL
    assert _one({"type": "cancel-flow-run"}, event) == {"type": "cancel-flow-run", "flow_run_id": RUN}
    assert _one({"type": "pause-work-queue", "source": "inferred"}, event)["error"] == \
        "No work queue could be inferred"
    assert _one({"type": "pause-automation", "source": "inferred"}, None)["error"] == \
        "No event to infer the automation"
    assert _one({"type": "pause-automation", "automation_id": DEP}, None) == \
        {"type": "pause-automation", "automation_id": DEP}


def test_inference_takes_the_first_of_its_kind_even_when_it_is_no_uuid():
    event = _event("order.1", [
        {"prefect.resource.id": "prefect.deployment.not-a-uuid", "prefect.resource.role": "a"},
        {"prefect.resource.id": f"prefect.deployment.{DEP}", "prefect.resource.role": "b"}])
    assert _one({"type": "pause-deployment", "source": "inferred"}, event)["error"] == \
        "No deployment could be inferred"


def test_flow_run_inferred_from_triggering_labels_without_an_event():
    out = _one({"type": "suspend-flow-run"}, None,
               labels={"prefect.resource.id": f"prefect.flow-run.{RUN}"})
    assert out == {"type": "suspend-flow-run", "flow_run_id": RUN}
    assert _one({"type": "suspend-flow-run"}, None)["error"] == "No flow run could be inferred"


def test_run_deployment_parameters_keep_json_types():
    context = _context(_event("order.1", count=3, name="Ann"))
    params = {"n": "{{ event.payload.count }}", "s": "Hello {{ event.payload.name }}",
              "as_text": {"__prefect_kind": "jinja", "template": "{{ event.payload.count }}"},
              "whole": {"__prefect_kind": "json", "value": {
                  "__prefect_kind": "jinja", "template": "{{ event.payload | tojson }}"}},
              "gone": {"__prefect_kind": "json"}, "list": ["{{ event.payload.count }}", 1],
              "kept": {"plain": True}}
    assert render_parameters(params, context) == {
        "n": 3, "s": "Hello Ann", "as_text": "3", "whole": {"count": 3, "name": "Ann"},
        "list": [3, 1], "kept": {"plain": True}}


def test_preview_of_a_template_error_and_of_undefined_tojson():
    out = _one({"type": "run-deployment", "deployment_id": DEP,
                "parameters": {"x": "{{ event.payload.missing }}"}}, _event("order.1"))
    assert out["error"].startswith("Unable to create flow run from deployment:")
    out = _one({"type": "call-webhook", "url": "http://x", "payload": "a\n{{ 1 / 0 }}"},
               _event("order.1"))
    assert out["error"] == ("Template rendering failed in 'payload': line 2: "
                            "ZeroDivisionError: division by zero")


def test_preview_firing_uses_the_automation_event_for_actions_on_trigger():
    automation = parse_automation({
        "name": "a", "trigger": {"expect": ["order.*"]},
        "actions": [{"type": "call-webhook", "url": "http://x", "payload": "{{ event.event }}"}],
        "actions_on_trigger": [{"type": "pause-automation", "source": "inferred"},
                               {"type": "call-webhook", "url": "http://x",
                                "payload": "{{ event.payload.triggering_event.event }}"}],
        "actions_on_resolve": [{"type": "do-nothing"}]})
    automation.id = "5a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"
    event = event_from_dict({"event": "order.created", "resource": {"prefect.resource.id": "o"}})
    firing = Firing(id="f", automation_id=automation.id, trigger_id=automation.trigger.id,
                    state="triggered", at=event.occurred + timedelta(seconds=1),
                    triggering_event=event)
    out = preview_firing(automation, firing, state_change_event(automation, firing))
    assert out == [{"type": "call-webhook", "url": "http://x", "payload": "order.created"},
                   {"type": "pause-automation", "automation_id": automation.id},
                   {"type": "call-webhook", "url": "http://x", "payload": "order.created"}]
