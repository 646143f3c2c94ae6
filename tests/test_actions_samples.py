"""The samples/actions files: `tocsin replay` prints the rendered actions, and
`tocsin template render` renders the sample template, with no daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "actions"


def _tocsin(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_replay_prints_rendered_actions_in_prefects_order():
    done = _tocsin("replay", "--automations", str(SAMPLES / "failed-run-alerts.yaml"),
                   "--events", str(SAMPLES / "failed-runs.jsonl"))
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["triggering_event"] == "0193a000-0000-7000-8000-000000000002"
    notify, hook, pause = line["actions"]
    assert notify == {"type": "send-notification", "block": "ops",
                      "subject": "Flow run nightly-etl-42 failed",
                      "body": "nightly-etl-42 failed at 2026-03-01T10:05:00+00:00.\n"
                              "Deployment: nightly-etl\nMessage: disk full\n"}
    assert hook["url"] == "http://127.0.0.1:8765/incidents"
    assert json.loads(hook["payload"]) == {
        "run": "prefect.flow-run.5f1c3c2e-8b7a-4d6e-9f10-2a3b4c5d6e7f",
        "deployment": "prefect.deployment.0c9e7b4a-1d2e-4f3a-8b5c-6d7e8f901234",
        "retries": "2"}
    # actions_on_trigger infer from the automation's own state-change event: itself.
    assert pause["type"] == "pause-automation" and "error" not in pause
    assert pause["automation_id"]


def test_template_render_sample():
    done = _tocsin("template", "render", str(SAMPLES / "notification.j2"),
                   "--event", str(SAMPLES / "event.json"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("nightly-etl-42 is Failed.\n- deployment: nightly-etl\n"
                           "- tag: prefect.tag.nightly\nPayload: {\"retries\": 2}\n")
