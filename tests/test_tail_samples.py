"""samples/watch.toml and samples/logs/ as a user would run them: a JSONL source read from the
beginning (with its one bad line recorded) and the fail2ban-style regex source from the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent.parent / "samples"


def events(d: Any, name: str) -> list[dict[str, Any]]:
    with d.client() as c:
        return c.filter_events(names=[name], limit=100, order="oldest")["events"]


def wait(d: Any, name: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = events(d, name)
        if len(got) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{len(events(d, name))} of {count} {name} events")


def test_sample_watch_config(make_daemon, tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "watch.toml", tmp_path)
    shutil.copytree(SAMPLES / "logs", tmp_path / "logs")
    d = make_daemon(config=tmp_path / "watch.toml").start()
    assert [e["event"] for e in wait(d, "order.*", 3)] == ["order.created", "order.paid",
                                                            "order.complete"]
    [rejected] = wait(d, "tocsin.source.line-rejected", 1)
    assert rejected["payload"]["lineno"] == 3
    assert rejected["resource"]["prefect.resource.id"] == "tocsin.source.shop"
    with open(tmp_path / "logs" / "auth.log", "a") as f:  # start = "end": only new lines
        f.write("Jan  5 10:01:00 web1 sshd[900]: Failed password for invalid user oracle "
                "from 203.0.113.50 port 40000 ssh2\n")
    [failed] = wait(d, "ssh.login.failed", 1)
    assert failed["resource"] == {"prefect.resource.id": "host.203.0.113.50", "user": "oracle"}
    assert failed["payload"]["lineno"] == 5
    status = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(d.socket),
                             "status", "--json"], check=False, capture_output=True, text=True,
                            timeout=30)
    watch = json.loads(status.stdout)["components"]["watch"]
    assert watch["shop"]["events"] == 3 and watch["shop"]["rejected"] == 1
    assert watch["sshd"]["unmatched"] == 0 and watch["sshd"]["events"] == 1
