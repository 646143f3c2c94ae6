"""Decision 2: the idle TTL per window is configurable and `tocsin automation inspect` shows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


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
