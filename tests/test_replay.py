"""`tocsin replay`: the DESIGN.md contract (ordering, virtual time, output lines, exit codes)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tocsin.cli.main import main

SAMPLES = Path(__file__).parent.parent / "samples" / "automations"
RUN_B = "prefect.flow-run.6f1c2a0e-3b7d-4c55-9a51-7d1e0c2b9f11"


def ev(name: str, occurred: str, rid: str, received: str | None = None, **extra) -> dict:
    data = {"id": str(extra.pop("id", uuid.uuid4())), "occurred": f"2026-01-01T{occurred}Z",
            "event": name, "resource": {"prefect.resource.id": rid}, **extra}
    if received:
        data["received"] = f"2026-01-01T{received}Z"
    return data


def run(tmp_path: Path, capsys, automations: Path | str, events: list[dict], *args: str):
    if isinstance(automations, str):
        path = tmp_path / "automations.yaml"
        path.write_text(automations)
        automations = path
    timeline = tmp_path / "events.jsonl"
    timeline.write_text("".join(json.dumps(e) + "\n" for e in events))
    code = main(["replay", "--automations", str(automations), "--events", str(timeline), *args])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def test_order_flow_output_line_is_the_contract(tmp_path, capsys):
    created = ev("order.created", "00:00:00", "user.1")
    other = ev("order.created", "00:00:01", "user.2")
    complete = ev("order.complete", "00:05:00", "user.1")
    code, lines, _ = run(tmp_path, capsys, SAMPLES / "order-flow.yaml", [created, other, complete])
    assert code == 0
    assert lines == [{
        "at": "2026-01-01T00:05:00+00:00", "automation": "order-completed", "state": "triggered",
        "triggering_event": complete["id"], "triggering_labels": {"prefect.resource.id": "user.1"},
        "actions": [{"type": "do-nothing"}],
    }]


def test_events_are_taken_in_received_order_else_occurred(tmp_path, capsys):
    automation = ("name: ab\ntrigger: {after: [a], expect: [b], within: 60}\n"
                  "actions: [{type: do-nothing}]\n")
    late_in_file = [ev("b", "00:00:03", "r"), ev("a", "00:00:02", "r", received="00:00:02")]
    _, lines, _ = run(tmp_path, capsys, automation, late_in_file)
    assert [l["at"] for l in lines] == ["2026-01-01T00:00:03+00:00"]
    received_late = [ev("a", "00:00:02", "r", received="00:00:04"), ev("b", "00:00:03", "r")]
    _, lines, _ = run(tmp_path, capsys, automation, received_late)
    assert lines == []


def test_stuck_flow_fires_at_the_deadline_with_the_run_as_cancel_target(tmp_path, capsys):
    events = [ev("prefect.flow-run.Running", "00:00:00", RUN_B),
              ev("prefect.flow-run.Running", "00:00:10", "prefect.flow-run.a"),
              ev("prefect.flow-run.Completed", "00:10:00", "prefect.flow-run.a"),
              ev("heartbeat", "01:00:00", "clock"),
              ev("prefect.flow-run.Completed", "01:00:05", RUN_B)]
    _, lines, _ = run(tmp_path, capsys, SAMPLES / "stuck-flow.yaml", events)
    assert [(l["at"], l["state"]) for l in lines] == [("2026-01-01T00:30:00+00:00", "triggered"),
                                                      ("2026-01-01T01:00:05+00:00", "resolved")]
    fired = lines[0]
    assert fired["triggering_event"] == events[0]["id"]
    assert fired["triggering_labels"] == {"prefect.resource.id": RUN_B}
    assert fired["actions"][0]["type"] == "cancel-flow-run"
    assert fired["actions"][0]["flow_run_id"] == RUN_B.rsplit(".", 1)[1]


def test_virtual_time_runs_from_since_to_until(tmp_path, capsys):
    automation = ("name: quiet\ntrigger: {expect: [x], posture: Proactive, within: 60}\n"
                  "actions: []\n")
    events = [ev("x", "00:00:30", "r"), ev("y", "00:03:30", "r")]
    _, lines, _ = run(tmp_path, capsys, automation, events)
    # windows from the first event: [0:30, 1:30) satisfied, then 2:30 and 3:30 fire
    assert [l["at"][11:19] for l in lines] == ["00:02:30", "00:03:30"]
    _, lines, _ = run(tmp_path, capsys, automation, events, "--since", "2026-01-01T00:00:00Z",
                      "--until", "2026-01-01T00:05:00Z")
    assert [l["at"][11:19] for l in lines] == ["00:02:00", "00:03:00", "00:04:00", "00:05:00"]


def test_events_before_since_are_not_seen(tmp_path, capsys):
    events = [ev("order.created", "00:00:00", "u"), ev("order.complete", "00:01:00", "u")]
    _, lines, _ = run(tmp_path, capsys, SAMPLES / "order-flow.yaml", events)
    assert len(lines) == 1  # without --since the pair fires
    _, lines, _ = run(tmp_path, capsys, SAMPLES / "order-flow.yaml", events,
                      "--since", "2026-01-01T00:00:30Z")
    assert lines == []


def test_duplicate_event_ids_count_once(tmp_path, capsys):
    woodchonk = SAMPLES / "woodchonk.yaml"
    walk = ev("animal.walked", "00:00:00", "a", id=uuid.uuid4())
    walk["resource"].update({"genus": "Marmota", "species": "monax"})
    _, lines, _ = run(tmp_path, capsys, woodchonk, [walk, walk, walk])
    assert lines == []
    more = [ev("animal.walked", f"00:00:0{s}", "a", resource={**walk["resource"]}) for s in (1, 2)]
    _, lines, _ = run(tmp_path, capsys, woodchonk, [walk, walk, walk, *more])
    assert [l["at"][11:19] for l in lines] == ["00:00:02"]  # the third distinct walk fires


def test_automations_react_to_automations(tmp_path, capsys):
    text = ("- name: first\n  trigger: {expect: [x]}\n  actions: []\n"
            "- name: second\n  trigger: {expect: [prefect.automation.triggered], "
            "match: {prefect.resource.name: first}}\n  actions: []\n")
    _, lines, _ = run(tmp_path, capsys, text, [ev("x", "00:00:00", "r")])
    assert [l["automation"] for l in lines] == ["first", "second"]


def test_bad_input_exits_65_naming_the_line(tmp_path, capsys):
    timeline = tmp_path / "events.jsonl"
    timeline.write_text(json.dumps(ev("x", "00:00:00", "r")) + "\n{\"event\": \"y\"}\n")
    code = main(["replay", "--automations", str(SAMPLES / "woodchonk.yaml"),
                 "--events", str(timeline)])
    assert code == 65
    assert "events.jsonl:2" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ntrigger: {expect: [x], within: never}\nactions: []\n")
    code = main(["replay", "--automations", str(bad), "--events", str(timeline)])
    assert code == 65 and "bad.yaml:2: trigger.within" in capsys.readouterr().err


def test_the_samples_replay_as_documented(capsys):
    """`tocsin replay --automations samples/automations/X.yaml --events .../events/X.jsonl`."""
    expected = {
        "woodchonk": [("09:00:07", "triggered", {})],
        "order-flow": [("11:30:00", "triggered", {"prefect.resource.id": "user.ann"})],
        "stuck-flow": [("09:30:00", "triggered", {"prefect.resource.id": NIGHTLY}),
                       ("09:45:00", "resolved", {"prefect.resource.id": NIGHTLY})],
    }
    for name, lines in expected.items():
        code = main(["replay", "--automations", str(SAMPLES / f"{name}.yaml"),
                     "--events", str(SAMPLES / "events" / f"{name}.jsonl")])
        got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert code == 0
        assert [(g["at"][11:19], g["state"], g["triggering_labels"]) for g in got] == lines


NIGHTLY = "prefect.flow-run.0f3a6d8e-1111-4c55-9a51-7d1e0c2b9f10"
