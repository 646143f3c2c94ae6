"""Decisions 2 and 11 in a daemon: the idle TTL shown by inspect; the loop guard pauses."""

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


def test_loop_guard_pauses_the_automation_and_says_so_in_an_event(make_daemon, tmp_path: Path):
    config = tmp_path / "tocsin.toml"
    config.write_text("[engine]\nmax_firings_per_minute = 3\n")
    daemon = make_daemon(config=config).start()
    with daemon.client() as c:
        created = c.request("POST", "/automations/", {"name": "noisy", "actions": [],
                                                      "trigger": {"expect": ["tick"]}})
        c.emit([build_event("tick", {"prefect.resource.id": f"r.{i}"}) for i in range(6)])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            paused = c.filter_events(names=["tocsin.automation.paused"])["events"]
            if paused:
                break
            time.sleep(0.05)
        assert len(paused) == 1
        assert paused[0]["resource"]["prefect.resource.id"] == f"prefect.automation.{created['id']}"
        assert "loop guard" in paused[0]["payload"]["reason"]
        fired = c.filter_events(names=["prefect.automation.triggered"])["events"]
        assert len(fired) == 3
        assert c.request("GET", f"/automations/{created['id']}")["enabled"] is False
