"""The shared template environment: Prefect's sandbox, tocsin's limits, the context views."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from tocsin import templates
from tocsin.actions.context import template_context
from tocsin.events.model import event_from_dict
from tocsin.firing import Firing
from tocsin.templates import TemplateError, render, validate_template

EVENT = event_from_dict({
    "id": "0190f3a0-0000-7000-8000-000000000001",
    "occurred": "2026-01-02T03:04:05+00:00",
    "event": "prefect.flow-run.Failed",
    "resource": {"prefect.resource.id": "prefect.flow-run.8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f",
                 "prefect.resource.name": "nice-run", "prefect.state-name": "Failed"},
    "related": [{"prefect.resource.id": "prefect.deployment.9a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f",
                 "prefect.resource.role": "deployment", "prefect.resource.name": "etl"},
                {"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
                {"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag"}],
    "payload": {"count": 3, "items": ["x", "y"]},
})


def ctx():
    firing = Firing(id="f1", automation_id="a1", trigger_id="t1", state="triggered",
                    at=datetime(2026, 1, 2, tzinfo=UTC), triggering_event=EVENT,
                    triggering_labels={"prefect.resource.id": "order.7"})
    automation = {"id": "0a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f", "name": "Ops alerts",
                  "description": "d", "tags": ["ops"], "trigger": {"type": "event"}}
    return template_context(automation, firing, EVENT)


@pytest.mark.parametrize("source, expected", [
    ("{{ event.event }}", "prefect.flow-run.Failed"),
    ("{{ event.resource.id }}", "prefect.flow-run.8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"),
    ("{{ event.resource.name }}", "nice-run"),
    ("{{ event.resource['prefect.state-name'] }}", "Failed"),
    ("{{ event.resource.labels.prefect['state-name'] }}", "Failed"),
    ("{{ event.resource_in_role['deployment'].name }}", "etl"),
    ("{{ event.resources_in_role['tag'] | map(attribute='id') | join(',') }}",
     "prefect.tag.a,prefect.tag.b"),
    ("{{ event.related[0].role }}", "deployment"),
    ("{{ event.involved_resources | length }}", "4"),
    ("{{ event.payload.count + 1 }}", "4"),
    ("{{ event.payload['items'] | join('-') }}", "x-y"),
    ("{{ event.occurred.isoformat() }}", "2026-01-02T03:04:05+00:00"),
    ("{{ automation.name }} {{ automation.tags[0] }}", "Ops alerts ops"),
    ("{{ labels.prefect.resource.id }} {{ labels['prefect.resource.id'] }}", "order.7 order.7"),
    ("{{ firing.id }} {{ firings | length }} {{ events | length }}", "f1 1 1"),
    ("{{ firing.triggering_event.resource.name }} {{ firing.trigger_states[0] }}",
     "nice-run Triggered"),
    ("{{ firing.triggering_labels['prefect.resource.id'] }} {{ firing | tojson | length > 10 }}",
     "order.7 True"),
    ("{{ nothing.at.all }}|{{ event.payload.missing.deeper }}", "|"),
    ("{{ event.payload | tojson }}", '{"count": 3, "items": ["x", "y"]}'),
    ("plain text, no template", "plain text, no template"),
])
def test_context_renders_like_prefect(source, expected):
    assert render(source, ctx()) == expected


def test_ui_url_without_a_dashboard_prints_the_command():
    templates.configure(None)
    assert render("{{ automation | ui_url }}", ctx()) == "tocsin automation inspect 'Ops alerts'"
    out = render("{{ event | ui_url }}", ctx())
    assert out.startswith("tocsin events ls --json --name prefect.flow-run.Failed")
    assert render("{{ event.resource | ui_url }}", ctx()) == (
        "tocsin events ls --resource "
        "prefect.resource.id=prefect.flow-run.8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f")
    assert "None" not in render("{{ event.url }}", ctx())


def test_ui_url_with_a_dashboard_url():
    templates.configure("http://dash.local/")
    try:
        c = ctx()
        assert render("{{ automation | ui_url }}", c) == \
            "http://dash.local/automations/automation/0a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"
        assert render("{{ event | ui_url }}", c) == \
            "http://dash.local/events/event/2026-01-02/0190f3a0-0000-7000-8000-000000000001"
        assert render("{{ event.resource | ui_url }}", c) == \
            "http://dash.local/runs/flow-run/8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"
        assert render("{{ event.resource | ui_resource_events_url }}", c).startswith(
            "http://dash.local/events?resource=prefect.flow-run.")
        assert render("{{ 'see flow-run/8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f' | flow_run_id }}",
                      c) == "8a3a1f0e-2f0a-4c5f-9d4e-1a2b3c4d5e6f"
    finally:
        templates.configure(None)


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ event.__init__.__globals__ }}",
    "{{ event._event }}",
    "{{ labels._labels }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ self.__dict__ }}",
    "{{ event.payload.__class__ }}",
])
def test_sandbox_refuses_python_internals(source):
    """Either an error or nothing at all: never an object from Python's insides."""
    try:
        out = render(source, ctx())
    except TemplateError as exc:
        assert "unsafe" in str(exc) or "undefined" in str(exc).lower()
        return
    assert out == "", out


@pytest.mark.parametrize("source, message", [
    ("{% set x = event.payload['items'].append(1) %}", "unsafe"),
    ("{% for i in range(101) %}{% endfor %}", "range() is limited to 100"),
    ("{{ 'x' * 2000000 }}", "longer than 1000000 characters"),
    ("{{ 2 ** 100000 }}", "grow past 4096 bits"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}", "concatenation would be longer than"),
    ("{% for i in range(100) %}{% for j in range(100) %}{{ 'y' * 200 }}{% endfor %}"
     "{% endfor %}", "output is longer than"),
    ("{% include 'other.j2' %}", "no loader"),
    ("{{ event.payload.missing | tojson }}", "tojson of an undefined value"),
])
def test_render_failures_are_template_errors(source, message):
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        render(source, ctx())


def test_render_time_is_limited(monkeypatch):
    monkeypatch.setattr(templates, "MAX_RENDER_SECONDS", 0.2)
    big = {"xs": list(range(100_000))}
    started = time.monotonic()
    with pytest.raises(TemplateError, match="longer than 0.2 s"):
        render("{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}", big)
    assert time.monotonic() - started < 2


def test_error_carries_the_line():
    with pytest.raises(TemplateError) as info:
        render("one\ntwo\n{{ event.payload.nope | tojson }}", ctx())
    assert info.value.lineno == 3
    assert str(info.value).startswith("line 3: ")


def test_validation_checks_syntax_and_loop_limits():
    with pytest.raises(TemplateError, match="unexpected '}'") as info:
        validate_template("ok\n{{ x }\n")
    assert info.value.lineno == 2
    eleven = "{% for i in x %}{% endfor %}" * 11
    with pytest.raises(TemplateError, match="contains 11 for loops"):
        validate_template(eleven)
    validate_template("{% for i in x %}{% endfor %}" * 10)
    with pytest.raises(TemplateError, match="depth of 3"):
        validate_template("{% for a in x %}{% for b in a %}{% for c in b %}"
                          "{% endfor %}{% endfor %}{% endfor %}")
    validate_template("{% for a in x %}{% for b in a %}{% endfor %}{% endfor %}")


def test_humanize_filters():
    from datetime import timedelta

    now = datetime.now(UTC)
    context = {"t": now - timedelta(minutes=3, seconds=5), "d": timedelta(hours=1, minutes=5),
               "f": now + timedelta(days=2, hours=1)}
    out = render("{{ t | humanize_naturaltime }}|{{ d | humanize_naturaldelta }}|"
                 "{{ 1234567 | humanize_intcomma }}|{{ f | humanize_naturaltime }}", context)
    assert out == "3 minutes ago|an hour|1,234,567|2 days from now"
