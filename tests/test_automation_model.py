"""The automation model: Prefect's defaults, every error with its path (and line), files."""

from __future__ import annotations

import json

import pytest
from tocsin.automations.files import FileError, parse_text
from tocsin.automations.model import (
    CompoundTrigger,
    EventTrigger,
    SequenceTrigger,
    parse_automation,
    parse_within,
)
from tocsin.cli.main import main
from tocsin.errors import InvalidInput


def automation(trigger, **fields):
    return {"name": "a", "trigger": trigger, "actions": [], **fields}


def errors_of(data) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_automation(data)
    return dict(info.value.errors)


def test_event_trigger_defaults_are_prefects():
    a = parse_automation(automation({"type": "event", "expect": ["x"]}))
    t = a.trigger
    assert isinstance(t, EventTrigger)
    assert (t.posture, t.threshold, t.within, t.match, t.after, t.for_each) == \
        ("Reactive", 1, 0.0, {}, [], [])
    assert (a.description, a.enabled, a.tags, a.actions_on_trigger, a.owner_resource) == \
        ("", True, [], [], None)


def test_proactive_within_defaults_to_ten_seconds_and_below_ten_is_refused():
    t = parse_automation(automation({"expect": ["x"], "posture": "Proactive"})).trigger
    assert t.within == 10.0
    errs = errors_of(automation({"expect": ["x"], "posture": "Proactive", "within": 5}))
    assert "greater than or equal to 10 seconds" in errs["trigger.within"]


@pytest.mark.parametrize("value,seconds", [(30, 30.0), (1.5, 1.5), ("PT30M", 1800.0),
                                           ("P1DT1H", 90000.0), ("45", 45.0)])
def test_within_takes_seconds_or_iso8601(value, seconds):
    assert parse_within(value) == seconds


@pytest.mark.parametrize("value", [None, -1, "ten minutes", True, "P"])
def test_bad_within_is_refused(value):
    with pytest.raises(ValueError):
        parse_within(value)


def test_every_error_is_reported_with_its_path():
    errs = errors_of({
        "name": "",
        "trigger": {"type": "compound", "require": 3, "triggers": [
            {"type": "event", "expect": ["x"], "posture": "Sometimes", "threshold": "two"},
            {"type": "sequence", "triggers": []},
        ]},
        "actions": [{"type": "launch-rocket"}],
        "colour": "red",
    })
    assert set(errs) >= {"name", "colour", "trigger.require", "trigger.triggers[0].posture",
                         "trigger.triggers[0].threshold", "trigger.triggers[1].triggers",
                         "actions[0].type"}
    assert "less than or equal to the number of triggers" in errs["trigger.require"]


def test_require_must_be_at_least_one():
    errs = errors_of(automation({"type": "compound", "require": 0,
                                 "triggers": [{"expect": ["x"]}]}))
    assert errs["trigger.require"] == "require must be at least 1"


def test_trigger_type_is_guessed_like_prefects_client():
    t = parse_automation(automation({"triggers": [{"expect": ["a"]}], "require": "any"})).trigger
    assert isinstance(t, CompoundTrigger) and t.required == 1
    t = parse_automation(automation({"triggers": [{"expect": ["a"]}, {"expect": ["b"]}]})).trigger
    assert isinstance(t, SequenceTrigger) and t.within is None


def test_metric_trigger_needs_its_query():
    # Metric triggers are evaluated by automations/metrics.py (tests/test_jobs_metric.py).
    errs = errors_of(automation({"type": "metric", "posture": "Metric"}))
    assert "required" in errs["trigger.metric"]


def test_trigger_ids_are_new_on_every_parse():
    data = automation({"expect": ["x"]})
    assert parse_automation(data).trigger.id != parse_automation(data).trigger.id


def test_loop_guard_refuses_a_trigger_that_sees_its_own_events():
    errs = errors_of(automation({"type": "event", "posture": "Reactive"}))
    assert "would fire on itself" in errs["trigger"]


def test_run_deployment_loop_guard():
    trigger = {"expect": ["prefect.flow-run.Running"], "posture": "Reactive"}
    errs = errors_of(automation(trigger, actions=[{"type": "run-deployment", "source": "inferred"}]))
    assert "infinite loop" in errs["actions[0]"]


def test_one_file_many_automations_in_three_forms():
    one = "name: {n}\ntrigger: {{expect: [x]}}\nactions: []\n"
    as_list = "- " + one.format(n="a").replace("\n", "\n  ").rstrip() + "\n"
    assert [a.name for a in parse_text(as_list)] == ["a"]
    keyed = "automations:\n" + "".join(
        "  - " + one.format(n=n).replace("\n", "\n    ").rstrip() + "\n" for n in "bc")
    assert [a.name for a in parse_text(keyed)] == ["b", "c"]
    docs = one.format(n="d") + "---\n" + one.format(n="e")
    assert [a.name for a in parse_text(docs)] == ["d", "e"]
    assert [a.name for a in parse_text(json.dumps([automation({"expect": ["x"]})]))] == ["a"]


def test_file_errors_carry_their_line():
    text = ("automations:\n"
            "  - name: ok\n"
            "    trigger: {expect: [x]}\n"
            "    actions: []\n"
            "  - name: bad\n"
            "    trigger:\n"
            "      expect: [x]\n"
            "      within: soon\n"
            "    actions: []\n")
    with pytest.raises(FileError) as info:
        parse_text(text, "f.yaml")
    assert info.value.as_json() == [{"loc": "automations[1].trigger.within",
                                     "msg": info.value.errors[0][1], "line": 8}]
    assert info.value.lines_text().startswith("f.yaml:8: automations[1].trigger.within:")


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(FileError) as info:
        parse_text("name: a\ntrigger: [\n", "f.yaml")
    assert info.value.lines[0] is not None


def test_validate_command_prints_as_stored_or_every_error(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("name: a\ntrigger: {expect: [x], posture: Proactive}\nactions: []\n")
    assert main(["automation", "validate", str(good)]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored[0]["trigger"]["within"] == 10.0 and stored[0]["enabled"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ntrigger: {expect: [x], threshold: many}\nactions: [{type: nope}]\n")
    assert main(["automation", "validate", str(good), str(bad)]) == 65
    err = capsys.readouterr().err
    assert "bad.yaml:2: trigger.threshold" in err and "bad.yaml:3: actions[0].type" in err


def test_validate_refuses_a_folder_with_no_automation_files(tmp_path, capsys):
    assert main(["automation", "validate", str(tmp_path)]) == 65
    assert "no .yaml, .yml or .json files" in capsys.readouterr().err
