"""Explain, near-misses and traces in a real daemon (issue 17): the CLI and the API, a real
webhook sink that fails once, and traces pruned with the events' retention."""

from __future__ import annotations

import json
import time

import pytest
from actions_sinks import HttpSink
from test_automation_daemon import cli, wait_for
from tocsin.client.sync import build_event

MONAX = {"genus": "Marmota", "species": "monax"}

AUTOMATION = """
name: woodchonk
trigger:
  type: event
  match: {genus: Marmota, species: monax}
  expect: [animal.walked]
  threshold: 2
  within: 60
actions:
  - type: call-webhook
    url: "URL/hook"
    payload: '{"species": "{{ event.resource.species }}"}'
"""

PAID_TWICE = """
name: paid-twice
trigger:
  after: [order.created]
  expect: [order.paid]
  for_each: [prefect.resource.id]
  threshold: 3
  within: 600
actions: [{type: do-nothing}]
"""

CONFIG = """
retention = "{retention}"
prune_interval = "1s"
[engine]
near_misses = 3
[actions]
retry_base_s = 0.05
retry_max_s = 0.1
"""


@pytest.fixture
def sink():
    s = HttpSink(statuses=[500]).start()
    yield s
    s.stop()


def walk(name: str = "animal.walked", i: int = 0, **labels: str) -> dict:
    return build_event(name, {"prefect.resource.id": f"animal.{i}", **MONAX, **labels})


def emit(daemon, *events: dict) -> None:
    with daemon.client() as c:
        c.emit(list(events))


def test_explain_near_misses_and_traces_end_to_end(make_daemon, tmp_path, sink):
    config = tmp_path / "tocsin.toml"
    config.write_text(CONFIG.format(retention="7d"))
    daemon = make_daemon(config=config).start()
    (tmp_path / "w.yaml").write_text(AUTOMATION.replace("URL", sink.url))
    assert cli(daemon, "automation", "apply", "-f", str(tmp_path / "w.yaml")).returncode == 0

    capital = walk(i=1, species="Monax")
    typo = walk("animal.walkd", i=2)
    emit(daemon, capital, typo)

    def misses():
        with daemon.client() as c:
            aid = c.request("GET", "/automations/name/woodchonk")["id"]
            return c.request("GET", f"/automations/{aid}/state")["near_misses"]
    got = wait_for(lambda: len(misses()) == 2 and misses())
    assert [(m["event_id"], m["failed"]) for m in got] == [(typo["id"], "expect"),
                                                          (capital["id"], "match")]
    inspect = cli(daemon, "automation", "inspect", "woodchonk")
    assert "recent near-misses (2)" in inspect.stdout
    assert ("species: wanted monax, got Monax (nearest: monax, differs by case)"
            in inspect.stdout)
    assert "expect: wanted ['animal.walked'], got animal.walkd (nearest: animal.walked" \
        in inspect.stdout

    done = cli(daemon, "automation", "explain", "woodchonk", "--event", capital["id"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("woodchonk: ignored: match failed on species")
    assert "species: FAILED wanted monax, got Monax (nearest: monax, differs by case)" \
        in done.stdout

    unsent = tmp_path / "event.json"
    unsent.write_text(json.dumps(walk(i=3)))
    done = cli(daemon, "automation", "explain", "woodchonk", "--event", str(unsent), "--json")
    assert json.loads(done.stdout)["outcome"].startswith("opened a window until")
    everyone = json.loads(cli(daemon, "automation", "explain", "--event", typo["id"],
                              "--json").stdout)
    assert [doc["automation"] for doc in everyone] == ["woodchonk"]
    missing = cli(daemon, "automation", "explain", "woodchonk", "--event", "nope")
    assert missing.returncode != 0 and "no stored event with id nope" in missing.stderr

    walks = [walk(i=10), walk(i=11)]
    emit(daemon, *walks)
    sink.wait_for(2)

    def traces():
        done = cli(daemon, "automation", "trace", "woodchonk", "--json")
        docs = json.loads(done.stdout)
        return docs if docs and docs[0]["actions"][0]["status"] == "executed" else None
    (trace,) = wait_for(traces, timeout=10)
    assert [e["id"] for e in trace["trigger"][0]["events"]] == [w["id"] for w in walks]
    assert trace["state_change"]["to"] == "triggered" and trace["state"] == "triggered"
    action = trace["actions"][0]
    assert [a["result"] for a in action["attempts"]] == ["failed", "executed"]
    assert "500" in action["attempts"][0]["error"]
    assert action["rendered"] == {"payload": '{"species": "monax"}'}
    text = cli(daemon, "automation", "trace", "woodchonk").stdout
    assert f"counted animal.walked {walks[0]['id']}" in text
    assert "attempt 2 at" in text and "executed" in text

    # the arming event of an `after` window, found in the store once something counted
    (tmp_path / "p.yaml").write_text(PAID_TWICE)
    assert cli(daemon, "automation", "apply", "-f", str(tmp_path / "p.yaml")).returncode == 0
    created = build_event("order.created", {"prefect.resource.id": "order.7"})
    paid = build_event("order.paid", {"prefect.resource.id": "order.7"})
    emit(daemon, created)
    emit(daemon, paid)
    unsent.write_text(json.dumps(build_event("order.paid", {"prefect.resource.id": "order.7"})))

    def armed():
        done = cli(daemon, "automation", "explain", "paid-twice", "--event", str(unsent),
                   "--json")
        trigger = json.loads(done.stdout)["triggers"][0]
        return trigger if trigger["window"] and trigger["window"]["count"] == 1 else None
    trigger = wait_for(armed)
    assert trigger["armed"]["by"] == created["id"]
    assert trigger["outcome"] == "counted (2 of 3)"

    # pruned with the events: a 1 s retention after a restart
    config.write_text(CONFIG.format(retention="1s"))
    daemon.stop()
    time.sleep(1.5)
    daemon.start()
    emit(daemon, walk("unrelated"))
    assert wait_for(lambda: json.loads(cli(daemon, "automation", "trace", "woodchonk",
                                           "--json").stdout) == [], timeout=10) is True
