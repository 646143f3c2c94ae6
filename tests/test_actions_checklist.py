"""Acceptance checks from prefect-semantics §3, §8-§10 and §15 that no other test pinned.
Pure: no daemon."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tocsin.actions.context import template_context
from tocsin.actions.model import parse_actions
from tocsin.actions.render import ParameterError, preview, render_parameters
from tocsin.automations.model import parse_automation
from tocsin.errors import InvalidInput
from tocsin.events.model import event_from_dict
from tocsin.firing import Firing
from tocsin.templates import TemplateError, render

DEP = "9a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"


def _context(payload=None):
    event = event_from_dict({"event": "order.created", "resource": {"prefect.resource.id": "o.1"},
                             "payload": payload or {"count": 3, "name": "Ann"}})
    firing = Firing(id="f", automation_id="a", trigger_id="t", state="triggered",
                    at=datetime.now(UTC), triggering_event=event)
    return template_context({"id": "a", "name": "auto"}, firing, event)


# -- §10 hydration ---------------------------------------------------------------------------------
def test_json_kind_parses_a_string_value_and_other_kinds_pass_their_value_through():
    params = {"parsed": {"__prefect_kind": "json", "value": '{"a": [1, 2]}'},
              "none": {"__prefect_kind": "none", "value": "{{ not rendered }}"},
              "other": {"__prefect_kind": "mystery", "value": 7},
              "nothing": {"__prefect_kind": "mystery"},
              "no_var": {"__prefect_kind": "workspace_variable"},
              "nested": {"deep": {"__prefect_kind": "json", "value": "true"}}}
    assert render_parameters(params, _context()) == {
        "parsed": {"a": [1, 2]}, "none": "{{ not rendered }}", "other": 7, "nothing": None,
        "nested": {"deep": True}}


def test_invalid_json_fails_hydration():
    with pytest.raises(ParameterError, match="Invalid JSON"):
        render_parameters({"x": {"__prefect_kind": "json", "value": "{nope"}}, _context())


def test_single_expression_keeps_its_type_after_trimming_and_a_string_stays_a_string():
    params = {"n": "  {{ event.payload.count }}  ", "s": "{{ event.payload.name }}",
              "two": "{{ event.payload.count }}{{ event.payload.count }}",
              "d": "{{ event.payload }}"}
    assert render_parameters(params, _context()) == {
        "n": 3, "s": "Ann", "two": "33", "d": {"count": 3, "name": "Ann"}}


def test_null_parameters_render_to_an_empty_dict():
    assert render_parameters(None, _context()) == {}


def test_run_deployment_failure_reason_names_the_hydration_error():
    [action] = parse_actions([{"type": "run-deployment", "deployment_id": DEP,
                               "parameters": {"x": {"__prefect_kind": "json",
                                                    "value": {"__prefect_kind": "jinja",
                                                              "template": "not {{ 'json' }}"}}}}])
    out = preview(action, _context())
    assert out["error"].startswith("Unable to create flow run from deployment: Invalid JSON")


# -- §3 Prefect's run-deployment loop guard --------------------------------------------------------
def _automation(trigger, action):
    return {"name": "a", "trigger": {"posture": "Reactive", **trigger}, "actions": [action]}


SELECTED = {"type": "run-deployment", "deployment_id": DEP}


@pytest.mark.parametrize("trigger", [
    {"expect": ["prefect.flow-run.Running"]},
    {"expect": ["prefect.flow-run.*"], "match": {"prefect.resource.id": "prefect.flow-run.*"}},
    {"expect": ["prefect.flow-run.Pending"], "match_related": [{}]},
])
def test_selected_run_deployment_on_every_flow_run_start_is_refused(trigger):
    with pytest.raises(InvalidInput) as info:
        parse_automation(_automation(trigger, SELECTED))
    assert [path for path, _ in info.value.errors] == ["actions[0]"]


@pytest.mark.parametrize("trigger", [
    {"expect": ["prefect.flow-run.Running"], "match": {"prefect.resource.id": "prefect.flow-run.1"}},
    {"expect": ["prefect.flow-run.Running"],
     "match_related": {"prefect.resource.role": "deployment",
                       "prefect.resource.id": f"prefect.deployment.{DEP}"}},
    {"expect": ["prefect.flow-run.Completed"]},
])
def test_selected_run_deployment_on_a_narrowed_or_terminal_trigger_is_accepted(trigger):
    assert parse_automation(_automation(trigger, SELECTED)).actions


def test_the_run_deployment_loop_guard_ignores_disabled_automations_and_actions_on_trigger():
    trigger = {"expect": ["prefect.flow-run.Running"]}
    inferred = {"type": "run-deployment", "source": "inferred"}
    assert parse_automation({**_automation(trigger, inferred), "enabled": False})
    assert parse_automation({"name": "a", "trigger": {"posture": "Reactive", **trigger},
                             "actions": [], "actions_on_trigger": [inferred]})


def test_invalid_literal_json_in_parameters_is_refused_at_save_time():
    with pytest.raises(InvalidInput) as info:
        parse_actions([{"type": "run-deployment", "deployment_id": DEP,
                        "parameters": {"x": {"__prefect_kind": "json", "value": "{nope"},
                                       "ok": {"__prefect_kind": "json", "value": "[1]"}}}],
                      "actions")
    [(path, message)] = info.value.errors
    assert path == "actions[0].parameters.x" and message.startswith("Invalid JSON")


# -- §9 templates ----------------------------------------------------------------------------------
def _no_event_context():
    firing = Firing(id="f", automation_id="a", trigger_id="t", state="triggered",
                    at=datetime.now(UTC), triggering_labels={"prefect.resource.id": "r.1"})
    return template_context({"id": "a", "name": "auto"}, firing, None)


def test_a_firing_without_an_event_renders_event_attributes_as_empty():
    out = render("[{{ event.resource.id }}][{{ event.payload.x.y }}][{{ labels['prefect.resource.id'] }}]",
                 _no_event_context())
    assert out == "[][][r.1]"


def test_resource_labels_iterate_as_label_value_pairs_and_missing_roles_are_empty():
    out = render("{% for k, v in event.resource.labels %}{{ k }}={{ v }};{% endfor %}"
                 "[{{ event.resource_in_role['nope'].id }}]"
                 "[{{ event.resources_in_role['nope'] | length }}]", _context())
    assert out == "prefect.resource.id=o.1;[][0]"


@pytest.mark.parametrize(("source", "message"), [
    ("{% for i in range(101) %}{% endfor %}", "range"),
    ("{% set d = {} %}{% set _ = d.update({'a': 1}) %}", "unsafe"),
    ("{% extends 'base' %}", "loader"),
    ("{% import 'macros' as m %}", "loader"),
])
def test_sandbox_failures(source, message):
    with pytest.raises(TemplateError, match=message):
        render(source, _context())


def test_range_of_exactly_one_hundred_is_allowed():
    assert render("{% for i in range(100) %}{% endfor %}{{ range(100) | list | length }}",
                  _context()) == "100"


# -- §8.1 the events an action leaves ---------------------------------------------------------------
def _job(automation: dict, event, firing_at: datetime):
    from tocsin.actions.outbox import Job

    firing = Firing(id="f", automation_id="a", trigger_id="t", state="triggered", at=firing_at,
                    triggering_event=event)
    return Job(firing_id="f", action_index=2, invocation="inv", automation=automation,
               action={"type": "pause-deployment"}, firing=firing, event=event,
               automation_triggered_event_id="0190f3a0-0000-7000-8000-0000000000aa",
               triggered_event_id="0190f3a0-0000-7000-8000-0000000000bb")


def test_action_events_shape_follows_only_within_five_minutes_and_failed_carries_the_reason():
    from datetime import timedelta

    from tocsin.actions.events import outcome_events

    event = event_from_dict({"event": "order.created", "resource": {"prefect.resource.id": "o.1"},
                             "occurred": "2026-01-01T00:00:00+00:00"})
    compound = {"id": "a", "name": "auto", "trigger": {"type": "compound"}}
    target = {"prefect.resource.id": f"prefect.deployment.{DEP}", "prefect.resource.role": "target"}
    soon = _job(compound, event, event.occurred + timedelta(minutes=4, seconds=59))
    triggered, failed = outcome_events(soon, ok=False, reason="No deployment could be inferred",
                                       details={}, results=[target])
    assert triggered.event == "prefect.automation.action.triggered"
    assert triggered.occurred == soon.firing.at and triggered.follows == event.id
    assert str(triggered.id) == soon.triggered_event_id
    assert triggered.payload == {"action_index": 2, "action_type": "pause-deployment",
                                 "invocation": "inv"}
    assert triggered.resource == {"prefect.resource.id": "prefect.automation.a",
                                  "prefect.resource.name": "auto",
                                  "prefect.trigger-type": "compound"}
    assert failed.event == "prefect.automation.action.failed" and failed.follows == triggered.id
    assert failed.payload["reason"] == "No deployment could be inferred"
    assert [r["prefect.resource.role"] for r in failed.related] == \
        ["target", "automation-triggered-event", "triggering-event"]
    assert failed.related == triggered.related
    late = _job(compound, event, event.occurred + timedelta(minutes=5))
    triggered, executed = outcome_events(late, ok=True, reason=None, details={}, results=[])
    assert triggered.follows is None
    assert executed.event == "prefect.automation.action.executed" and "reason" not in executed.payload
    no_event = _job({"id": "a", "name": "auto", "trigger": {"type": "event", "posture": "Proactive"}},
                    None, event.occurred)
    triggered, _ = outcome_events(no_event, ok=True, reason=None, details={}, results=[])
    assert triggered.follows is None and triggered.resource["prefect.posture"] == "Proactive"
    assert [r["prefect.resource.role"] for r in triggered.related] == ["automation-triggered-event"]


# -- §7 the action list of a resolved firing -------------------------------------------------------
def test_a_resolved_firing_runs_actions_then_actions_on_resolve_with_the_resolved_event():
    from tocsin.actions.render import action_plan
    from tocsin.automations.emitted import state_change_event

    automation = parse_automation({
        "name": "a", "trigger": {"expect": ["x"], "posture": "Proactive", "within": 60},
        "actions": [{"type": "do-nothing"}],
        "actions_on_trigger": [{"type": "pause-automation", "source": "inferred"}],
        "actions_on_resolve": [{"type": "resume-automation", "source": "inferred"}]})
    automation.id = DEP
    came = event_from_dict({"event": "x", "resource": {"prefect.resource.id": "r"}})
    firing = Firing(id="f", automation_id=DEP, trigger_id=automation.trigger.id,
                    state="resolved", at=came.occurred, triggering_event=came)
    resolved = state_change_event(automation, firing)
    plan = action_plan(automation, firing, resolved)
    assert [(i, a.type, e.event) for i, a, e in plan] == [
        (0, "do-nothing", "x"), (1, "resume-automation", "prefect.automation.resolved")]
    out = preview(plan[1][1], template_context(automation, firing, resolved))
    assert out == {"type": "resume-automation", "automation_id": DEP}
