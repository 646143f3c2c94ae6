"""`tocsin replay --explain` (issue 17): each state change's trace on virtual time — the
events that counted, the trigger path in a sequence, the actions as they would run."""

from __future__ import annotations

from test_replay import SAMPLES, ev, run

SEQUENCE = """
name: deploy-then-smoke
trigger:
  type: sequence
  within: 600
  triggers:
    - {type: event, expect: [deploy.done]}
    - {type: event, expect: [smoke.passed], threshold: 2, within: 60}
actions:
  - type: call-webhook
    url: http://127.0.0.1:9/hook
    payload: "{{ event.event }} on {{ event.resource.id }}"
"""


def test_replay_explain_lists_the_events_that_counted(tmp_path, capsys):
    walks = [ev("animal.walked", f"00:00:0{i}", f"animal.{i}") for i in range(4)]
    for w in walks:
        w["resource"].update(genus="Marmota", species="monax")
    walks[1]["resource"]["species"] = "Monax"  # does not count
    code, lines, err = run(tmp_path, capsys, SAMPLES / "woodchonk.yaml", walks, "--explain")
    assert code == 0, err
    (trace,) = lines
    assert trace["automation"] == "woodchonk" and trace["state"] == "triggered"
    assert trace["state_change"]["from"] == "waiting" and trace["state_change"]["to"] == "triggered"
    (part,) = trace["trigger"]
    assert part["path"] == "trigger"
    assert [e["id"] for e in part["events"]] == [walks[0]["id"], walks[2]["id"], walks[3]["id"]]
    assert trace["actions"] == [{"index": 0, "type": "do-nothing", "status": "would run",
                                 "error": None, "preview": {"type": "do-nothing"},
                                 "attempts": []}]


def test_replay_explain_shows_the_path_in_a_sequence_and_rendered_actions(tmp_path, capsys):
    events = [ev("deploy.done", "00:00:00", "app.1"), ev("smoke.passed", "00:00:05", "app.1"),
              ev("smoke.passed", "00:00:06", "app.2")]
    code, lines, err = run(tmp_path, capsys, SEQUENCE, events, "--explain")
    assert code == 0, err
    (trace,) = lines
    paths = [(p["path"], [e["id"] for e in p["events"]]) for p in trace["trigger"]]
    assert paths == [("trigger", []),
                     ("trigger.triggers[0]", [events[0]["id"]]),
                     ("trigger.triggers[1]", [events[1]["id"], events[2]["id"]])]
    assert trace["actions"][0]["preview"]["payload"] == "smoke.passed on app.2"
    code, plain, _ = run(tmp_path, capsys, SEQUENCE, events)
    assert plain[0]["actions"][0]["payload"] == "smoke.passed on app.2"  # same rendering
