"""Decisions 2 and 11 in a daemon: the idle TTL shown by inspect; the causal loop guard
pauses a loop and only a loop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tocsin.client.sync import build_event


def test_inspect_shows_the_configured_idle_ttl(make_daemon, tmp_path: Path):
    config = tmp_path / "tocsin.toml"
    config.write_text('[engine]\nidle_ttl = "2d"\n')
    daemon = make_daemon(config=config).start()
    with daemon.client() as c:
        c.request("POST", "/automations/", {"name": "orders", "actions": [],
                                            "trigger": {"after": ["order.created"],
                                                        "expect": ["order.complete"]}})
    out = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(daemon.socket),
                          "automation", "inspect", "orders"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert "idle TTL  172800 s per window" in out


def _wait_for_events(c, name: str, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = c.filter_events(names=[name], limit=2000)["events"]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_loop_guard_pauses_an_automation_whose_webhook_posts_back_into_the_daemon(
        make_daemon, tmp_path: Path):
    """The loop goes out over HTTP and comes back through the webhook listener; the
    `Tocsin-Lineage` header carries the chain, and the pause event shows it."""
    config = tmp_path / "tocsin.toml"
    config.write_text("[webhooks]\nenabled = true\nhost = \"127.0.0.1\"\nport = 0\n")
    daemon = make_daemon(config=config).start()
    template = tmp_path / "ping.j2"
    template.write_text('{"event": "loop.ping", "resource": {"prefect.resource.id": "loop"}}')
    url = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(daemon.socket),
                          "webhook", "create", "ping", "--template", str(template)],
                         capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    with daemon.client() as c:
        created = c.request("POST", "/automations/", {
            "name": "echo", "trigger": {"expect": ["loop.ping"]},
            "actions": [{"type": "call-webhook", "url": url, "payload": "{}"}]})
        c.emit([build_event("loop.ping", {"prefect.resource.id": "loop"})])
        paused = _wait_for_events(c, "tocsin.automation.paused", 1)
        assert len(paused) == 1
        aid = created["id"]
        assert paused[0]["resource"]["prefect.resource.id"] == f"prefect.automation.{aid}"
        assert "loop guard" in paused[0]["payload"]["reason"]
        assert paused[0]["payload"]["chain"] == [{"id": aid, "name": "echo"}] * 4
        assert len(c.filter_events(names=["prefect.automation.triggered"])["events"]) == 3
        assert len(c.filter_events(names=["loop.ping"])["events"]) == 4
        assert c.request("GET", f"/automations/{aid}")["enabled"] is False


def test_a_busy_automation_that_is_no_loop_is_never_paused(make_daemon):
    """400 resources x 3 events fire 400 times (the old rate guard stopped at 300)."""
    daemon = make_daemon().start()
    with daemon.client() as c:
        created = c.request("POST", "/automations/", {
            "name": "busy", "actions": [],
            "trigger": {"expect": ["order.step"], "for_each": ["prefect.resource.id"],
                        "threshold": 3, "within": 60}})
        for _ in range(3):
            c.emit([build_event("order.step", {"prefect.resource.id": f"order.{i}"})
                    for i in range(400)])
        fired = _wait_for_events(c, "prefect.automation.triggered", 400)
        assert len(fired) == 400
        assert c.filter_events(names=["tocsin.automation.paused"])["events"] == []
        assert c.request("GET", f"/automations/{created['id']}")["enabled"] is True


def test_loop_guard_follows_a_flow_run_whose_own_code_emits_the_trigger(
        make_daemon, tmp_path: Path):
    """The loop goes through a flow run the automation starts: the run's process is given its
    chain (TOCSIN_LINEAGE), and `tocsin emit` inside it carries the chain on."""
    daemon = make_daemon().start()
    emit = (f"{sys.executable} -m tocsin.cli.main --socket {daemon.socket} "
            "emit loop.ping -r prefect.resource.id=loop")
    with daemon.client() as c:
        dep = c.request("POST", "/deployments", {"name": "pinger", "command": emit})
        created = c.request("POST", "/automations/", {
            "name": "echo", "trigger": {"expect": ["loop.ping"]},
            "actions": [{"type": "run-deployment", "source": "selected",
                         "deployment_id": dep["id"]}]})
        c.emit([build_event("loop.ping", {"prefect.resource.id": "loop"})])
        paused = _wait_for_events(c, "tocsin.automation.paused", 1, timeout=60)
        assert len(paused) == 1
        aid = created["id"]
        assert paused[0]["payload"]["chain"] == [{"id": aid, "name": "echo"}] * 4
        pings = c.filter_events(names=["loop.ping"])["events"]
        assert len(pings) == 4
        # each ping a run emitted names the automations that led to it, oldest first
        chains = sorted(len([r for r in p["related"] if r["prefect.resource.role"] == "lineage"])
                        for p in pings)
        assert chains == [0, 1, 2, 3]
        assert c.request("GET", f"/automations/{aid}")["enabled"] is False
