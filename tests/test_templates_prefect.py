"""Templates and run-deployment output exactly as Prefect renders them (issue 19), and the
guide's template idioms (issue 15): through the renderer, `tocsin template render`, the
action renderer and `tocsin replay`. Expected strings are Prefect 3.9.1's."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from test_replay import ev, run
from tocsin.actions.context import template_context
from tocsin.actions.model import parse_action
from tocsin.actions.render import preview
from tocsin.automations.model import parse_automation
from tocsin.cli.main import main
from tocsin.errors import InvalidInput
from tocsin.events.model import event_from_dict
from tocsin.firing import Firing
from tocsin.templates import TemplateError, render, validate_template

EVENT = {
    "id": "0190f3a0-0000-7000-8000-000000000001", "occurred": "2026-01-02T03:04:05+00:00",
    "event": "order.created",
    "resource": {"prefect.resource.id": "order.7", "prefect.resource.name": "<Seven> & 'co'"},
    "related": [{"prefect.resource.id": "prefect.tag.vip", "prefect.resource.role": "tag"}],
    "payload": {"b": 1, "a": "<x>&'", "n": 3, "size": 30000000},
}


def context(automation: dict | None = None):
    event = event_from_dict(EVENT)
    firing = Firing(id="f1", automation_id="a1", trigger_id="t1", state="triggered",
                    at=datetime(2026, 1, 2, tzinfo=UTC), triggering_event=event,
                    triggering_labels={"prefect.resource.id": "order.7"})
    return template_context(parse_automation(automation) if automation else None, firing, event)


PROACTIVE = {"name": "late orders", "actions": [{"type": "do-nothing"}],
             "trigger": {"type": "event", "posture": "Proactive", "after": ["order.created"],
                         "expect": ["order.complete"], "within": 60}}


@pytest.mark.parametrize("source, expected", [
    # tojson is Jinja's HTML-safe dumps with sorted keys (checked on Prefect 3.9.1)
    ('{{ {"b": 1, "a": "<x>&\'"} | tojson }}', '{"a": "\\u003cx\\u003e\\u0026\\u0027", "b": 1}'),
    ("{{ event.payload | tojson }}",
     '{"a": "\\u003cx\\u003e\\u0026\\u0027", "b": 1, "n": 3, "size": 30000000}'),
    ("{{ event.resource | tojson }}",
     '{"prefect.resource.id": "order.7", '
     '"prefect.resource.name": "\\u003cSeven\\u003e \\u0026 \\u0027co\\u0027"}'),
    ("{{ event.related | tojson }}",
     '[{"prefect.resource.id": "prefect.tag.vip", "prefect.resource.role": "tag"}]'),
    ("{{ [{'z': 1, 'y': [2]}] | tojson(indent=2) }}",
     '[\n  {\n    "y": [\n      2\n    ],\n    "z": 1\n  }\n]'),
    ("{{ labels | tojson }}", '{"prefect.resource.id": "order.7"}'),  # tocsin's decision
    # humanize_* filters, from the humanize library as in Prefect
    ("{{ event.payload.size | humanize_naturalsize }}", "30.0 MB"),
    ("{{ 1234567 | humanize_intcomma }}", "1,234,567"),
    ("{{ 1234567 | humanize_intword }}", "1.2 million"),
    ("{{ event.payload.n | humanize_apnumber }}", "three"),
    ("{{ event.payload.n | humanize_ordinal }}", "3rd"),
    ("{{ 0.5 | humanize_fractional }}", "1/2"),
    ("{{ 1500 | humanize_metric('V') }}", "1.50 kV"),
    ("{{ 0.3 | humanize_scientific }}", "3.00 x 10⁻¹"),
    ("{{ 3600 | humanize_naturaldelta }}", "an hour"),
    ("{{ 3725 | humanize_precisedelta }}", "1 hour, 2 minutes and 5 seconds"),
    ("{{ ['a', 'b', 'c'] | humanize_natural_list }}", "a, b and c"),
    # iterating a resource or related resource yields its (label, value) pairs (the guide)
    ("{% for label, value in event.resource %}{{ label }}={{ value }};{% endfor %}",
     "prefect.resource.id=order.7;prefect.resource.name=<Seven> & 'co';"),
    ("{% for related in event.related %}{% for label, value in related %}{{ label }}:{{ value }} "
     "{% endfor %}{% endfor %}", "prefect.resource.id:prefect.tag.vip prefect.resource.role:tag "),
    ("{% for label, value in event.resource.labels %}{{ label }};{% endfor %}",
     "prefect.resource.id;prefect.resource.name;"),
    ("{{ event.resource.items() | list | length }} {{ event.resource | length }}", "2 2"),
    # a missing Prefect object renders empty, and so does its ui_url (tocsin's decision)
    ("[{{ flow_run }}][{{ flow_run.name }}][{{ deployment | ui_url }}]", "[][][]"),
])
def test_renders_as_prefect_does(source, expected):
    assert render(source, context()) == expected


def test_durations_in_the_context_are_timedeltas():
    ctx = context(PROACTIVE)
    assert render("{{ automation.trigger.within }}", ctx) == "0:01:00"
    assert render("{{ automation.trigger.within | humanize_naturaldelta }}", ctx) == "a minute"
    assert render("{{ automation.trigger.within.total_seconds() }}", ctx) == "60.0"
    compound = {"name": "c", "actions": [{"type": "do-nothing"}], "trigger": {
        "type": "compound", "require": "all", "within": 3600, "triggers": [
            {"type": "event", "expect": ["a"], "within": 90}, {"type": "event", "expect": ["b"]}]}}
    ctx = context(compound)
    assert render("{{ automation.trigger.within }}|{{ automation.trigger.triggers[0].within }}|"
                  "{{ automation.trigger.triggers[1].within }}", ctx) == "1:00:00|0:01:30|0:00:00"


def test_humanize_filters_are_known_when_an_automation_is_saved():
    validate_template("{{ event.occurred | humanize_naturaltime }}")
    with pytest.raises(TemplateError, match="No filter named 'humanize_nope'"):
        validate_template("{{ 1 | humanize_nope }}")


def _run_deployment(**fields):
    return parse_action({"type": "run-deployment", "source": "selected",
                         "deployment_id": "6f1c2a0e-3b7d-4c55-9a51-7d1e0c2b9f11", **fields})


def test_run_deployment_null_parameters_render_as_an_empty_object():
    out = preview(_run_deployment(parameters=None), context())
    assert out["parameters"] == {} and out["job_variables"] == {}


def test_run_deployment_job_variables_are_carried_and_templated_like_parameters():
    action = _run_deployment(
        parameters={"n": "{{ event.payload.n }}"},
        job_variables={"env": {"ORDER": "{{ event.resource.id }}", "COUNT": "{{ event.payload.n }}",
                               "NOTE": "n={{ event.payload.n }}"}, "image": "python:3.12"})
    out = preview(action, context())
    assert out["parameters"] == {"n": 3}
    assert out["job_variables"] == {"env": {"ORDER": "order.7", "COUNT": 3, "NOTE": "n=3"},
                                    "image": "python:3.12"}


def test_run_deployment_bad_job_variables_are_refused_when_saved():
    with pytest.raises(InvalidInput) as info:
        _run_deployment(job_variables={"x": "{{ nope }"})
    assert any(path.endswith("job_variables.x") for path, _ in info.value.errors)


def test_replay_prints_parameters_and_job_variables_as_prefect_renders_them(tmp_path, capsys):
    automation = json.dumps({
        "name": "rerun", "trigger": {"type": "event", "expect": ["order.created"],
                                     "match": {"prefect.resource.id": "order.*"}},
        "actions": [{"type": "run-deployment", "source": "selected",
                     "deployment_id": "6f1c2a0e-3b7d-4c55-9a51-7d1e0c2b9f11"},
                    {"type": "run-deployment", "source": "selected",
                     "deployment_id": "6f1c2a0e-3b7d-4c55-9a51-7d1e0c2b9f11",
                     "parameters": {"who": "{{ event.resource.id }}"},
                     "job_variables": {"env": {"WHO": "{{ event.resource.id }}"}}}]})
    code, lines, err = run(tmp_path, capsys, automation,
                           [ev("order.created", "00:00:00", "order.1")])
    assert code == 0, err
    first, second = lines[0]["actions"]
    assert (first["parameters"], first["job_variables"]) == ({}, {})
    assert (second["parameters"], second["job_variables"]) == \
        ({"who": "order.1"}, {"env": {"WHO": "order.1"}})


# -- the negated-only `expect` self-trigger (issue 19's bug) ------------------------------------

NEGATED_ONLY = ("name: not-x\ntrigger: {type: event, expect: ['!x']}\n"
                "actions: [{type: do-nothing}]\n")


def test_negated_only_expect_without_match_is_refused_like_an_empty_one(tmp_path, capsys):
    """It saw tocsin's own prefect.automation.* events and re-fired on them (300 firings in a
    replay of one event)."""
    code, lines, err = run(tmp_path, capsys, NEGATED_ONLY, [ev("y", "00:00:00", "r")])
    assert (code, lines) == (65, [])
    assert "trigger.expect" in err and "would fire on itself" in err


@pytest.mark.parametrize("trigger", [
    {"expect": ["!x"]}, {"expect": ["!x", "!y"]}, {"expect": ["*"]}, {"expect": ["prefect.*"]},
    {"type": "compound", "require": "any",
     "triggers": [{"expect": ["a"], "match": {"prefect.resource.id": "r"}}, {"expect": ["!a"]}]},
])
def test_triggers_that_admit_their_own_events_are_refused(trigger):
    with pytest.raises(InvalidInput) as info:
        parse_automation({"name": "n", "trigger": trigger, "actions": [{"type": "do-nothing"}]})
    assert any("would fire on itself" in msg for _, msg in info.value.errors)


@pytest.mark.parametrize("trigger", [
    {"expect": ["!x"], "match": {"prefect.resource.id": "order.*"}},
    {"expect": ["!prefect.automation.*"]},
    {"expect": ["prefect.automation.triggered"]},
    {"expect": ["order.*"]},
])
def test_triggers_that_do_not_see_their_own_events_by_accident_are_kept(trigger):
    parse_automation({"name": "n", "trigger": trigger, "actions": [{"type": "do-nothing"}]})


def test_replay_of_a_negated_expect_with_a_match_fires_once(tmp_path, capsys):
    automation = ("name: not-x\ntrigger: {type: event, expect: ['!x'], "
                  "match: {prefect.resource.id: 'order.*'}}\nactions: [{type: do-nothing}]\n")
    code, lines, _ = run(tmp_path, capsys, automation, [ev("y", "00:00:00", "order.1")])
    assert code == 0 and len(lines) == 1


# -- `tocsin template render` -----------------------------------------------------------------

def test_template_render_cli_renders_as_prefect(tmp_path):
    template = tmp_path / "t.j2"
    template.write_text("{{ event.payload | tojson }}\n"
                        "{{ event.payload.size | humanize_naturalsize }}\n"
                        "{% for label, value in event.resource %}{{ label }}={{ value }}\n"
                        "{% endfor %}")
    event = tmp_path / "e.json"
    event.write_text(json.dumps(EVENT))
    done = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "template", "render",
                           str(template), "--event", str(event)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        '{"a": "\\u003cx\\u003e\\u0026\\u0027", "b": 1, "n": 3, "size": 30000000}\n30.0 MB\n'
        "prefect.resource.id=order.7\nprefect.resource.name=<Seven> & 'co'\n")


def test_template_render_cli_refuses_a_bomb_quickly(tmp_path, capsys):
    template = tmp_path / "bomb.j2"
    template.write_text("ok\n{{ '%0999999999d' | format(1) }}\n")
    started = datetime.now()
    assert main(["template", "render", str(template)]) == 65
    assert datetime.now() - started < timedelta(seconds=2)
    assert "line 2: the `format` filter would be longer than 1000000 characters" in \
        capsys.readouterr().err


# -- ui_url on every object a template can name ------------------------------------------------

@pytest.mark.parametrize("name, data, path, command", [
    ("flow_run", {"id": "r1", "name": "rapid-ant"}, "runs/flow-run/r1", "tocsin run inspect r1"),
    ("deployment", {"id": "d1", "name": "etl"}, "deployments/deployment/d1",
     "tocsin deployment inspect d1"),
    ("flow", {"id": "f1", "name": "etl"}, "flows/flow/f1",
     "tocsin events ls --resource prefect.resource.id=prefect.flow.f1"),
    ("work_pool", {"id": "p1", "name": "local"}, "work-pools/work-pool/local",
     "tocsin events ls --resource prefect.resource.id=prefect.work-pool.p1"),
    ("work_queue", {"id": "q1", "name": "default"}, "work-queues/work-queue/q1",
     "tocsin events ls --resource prefect.resource.id=prefect.work-queue.q1"),
])
def test_ui_url_of_each_prefect_object(name, data, path, command):
    from tocsin import templates
    from tocsin.actions.context import ObjectView

    ctx = {**context(), name: ObjectView(data, name.replace("_", "-"))}
    assert render(f"{{{{ {name}|ui_url }}}}", ctx) == command
    templates.configure("http://dash.local")
    try:
        assert render(f"{{{{ {name}|ui_url }}}}", ctx) == f"http://dash.local/{path}"
        assert render(f"{{{{ {name}|ui_resource_events_url }}}}", ctx) == (
            f"http://dash.local/events?resource=prefect.{name.replace('_', '-')}.{data['id']}")
    finally:
        templates.configure(None)


def test_humanize_time_filters_on_event_times():
    event = event_from_dict({**EVENT, "occurred": (datetime.now(UTC) - timedelta(minutes=3))
                             .isoformat()})
    ctx = template_context(None, None, event)
    assert render("{{ event.occurred | humanize_naturaltime }}, "
                  "{{ event.occurred | humanize_naturalday }}", ctx) in (
        "3 minutes ago, today", "3 minutes ago, yesterday")  # the test may straddle midnight


PARITY_BODY = ("{{ event.payload | tojson }}|{{ event.resource | tojson }}|"
               "{{ automation.trigger.within }}|{{ event.payload.size | humanize_naturalsize }}|"
               "{% for label, value in event.resource %}{{ label }}={{ value }};{% endfor %}")
PARITY_OUT = ('{"a": "\\u003cx\\u003e\\u0026\\u0027", "b": 1, "n": 3, "size": 30000000}|'
              '{"prefect.resource.id": "order.7", '
              '"prefect.resource.name": "\\u003cSeven\\u003e \\u0026 \\u0027co\\u0027"}|'
              "0:01:30|30.0 MB|prefect.resource.id=order.7;prefect.resource.name=<Seven> & 'co';")


def test_action_renderer_and_replay_render_as_prefect(tmp_path, capsys):
    automation = {"name": "notify", "trigger": {"type": "event", "expect": ["order.created"],
                                                "match": {"prefect.resource.id": "order.*"},
                                                "within": 90},
                  "actions": [{"type": "send-notification", "block": "ops",
                               "subject": "{{ event.resource.id }}", "body": PARITY_BODY}]}
    out = preview(parse_action(automation["actions"][0]), context(automation))
    assert (out["subject"], out["body"]) == ("order.7", PARITY_OUT)
    code, lines, err = run(tmp_path, capsys, json.dumps(automation), [EVENT])
    assert code == 0, err
    assert lines[0]["actions"] == [{"type": "send-notification", "block": "ops",
                                    "subject": "order.7", "body": PARITY_OUT}]


GUIDE_CUSTOM_NOTIFICATION = """Automation: {{ automation.name }}
Description: {{ automation.description }}

Event: {{ event.id }}
Resource:
{% for label, value in event.resource %}
{{ label }}: {{ value }}
{% endfor %}
Related Resources:
{% for related in event.related %}
    Role: {{ related.role }}
    {% for label, value in related %}
    {{ label }}: {{ value }}
    {% endfor %}
{% endfor %}"""


def test_the_guides_custom_event_notification_lists_labels():
    """Prefect's guide (and its UI's default body for custom triggers), verbatim: it failed
    with "too many values to unpack" (issue 15)."""
    automation = {"name": "woodchonk", "description": "chonky",
                  "trigger": {"type": "event", "expect": ["order.created"],
                              "match": {"prefect.resource.id": "order.*"}},
                  "actions": [{"type": "do-nothing"}]}
    assert render(GUIDE_CUSTOM_NOTIFICATION, context(automation)) == (
        "Automation: woodchonk\nDescription: chonky\n\n"
        "Event: 0190f3a0-0000-7000-8000-000000000001\nResource:\n\n"
        "prefect.resource.id: order.7\n\nprefect.resource.name: <Seven> & 'co'\n\n"
        "Related Resources:\n\n    Role: tag\n    \n"
        "    prefect.resource.id: prefect.tag.vip\n    \n"
        "    prefect.resource.role: tag\n    \n")
