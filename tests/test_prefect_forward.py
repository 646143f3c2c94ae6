"""`[[forward]]` into a real Prefect server: every matching event stored there exactly once,
through `kill -9` of tocsin and a stop and restart of the Prefect server mid-transfer."""

from __future__ import annotations

import uuid

import pytest
from prefect_env import PREFECT_TEST_TIMEOUT, PrefectServer, wait_for

pytestmark = pytest.mark.timeout(PREFECT_TEST_TIMEOUT)

TOTAL = 10_000


def forward_config(tmp_path, server: PrefectServer, prefix: str):
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[[forward]]\nurl = "{server.api_url}"\nnames = ["{prefix}.*"]\n')
    return config


def test_forward_delivers_10000_events_exactly_once_across_kill9_and_prefect_restart(
        make_daemon, tmp_path, prefect_server: PrefectServer):
    prefix = f"fwd{uuid.uuid4().hex[:8]}"
    d = make_daemon(config=forward_config(tmp_path, prefect_server, prefix)).start()
    with d.client() as c:
        c.emit([{"event": "not.forwarded", "resource": {"prefect.resource.id": "x"}}])
        for start in range(0, TOTAL, 1000):
            c.emit([{"event": f"{prefix}.item", "resource": {"prefect.resource.id": f"item.{i}"},
                     "payload": {"i": i}} for i in range(start, start + 1000)])

    def count() -> int:
        try:
            return prefect_server.count_events(prefix=f"{prefix}.")
        except OSError:
            return 0

    wait_for(lambda: count() >= 1500, 120, "the first events in Prefect")
    d.kill9()
    d.start()
    at_restart = count()
    wait_for(lambda: count() >= at_restart + 1500, 120, "progress after tocsin's kill -9")
    prefect_server.stop()

    def outage_seen():  # tocsin finds Prefect gone, says why, and how far behind it is
        with d.client() as c:
            link = c.health()["components"]["forward"][prefect_server.api_url]
        return link if "cannot reach" in (link["last_error"] or "") else None

    link = wait_for(outage_seen, 30, "the outage in the forward link's status")
    assert link["lag_events"] > 0, link
    prefect_server.start()
    wait_for(lambda: count() >= TOTAL, 240, f"all {TOTAL} events in Prefect")

    def settled():
        with d.client() as c:
            link = c.health()["components"]["forward"][prefect_server.api_url]
        return link if link["lag_events"] == 0 else None

    link = wait_for(settled, 60, "the forward link to catch up")
    assert count() == TOTAL  # Prefect keeps one row per id: redelivery changed nothing
    assert prefect_server.count_events(names=["not.forwarded"]) == 0
    assert link["unconfirmed"] == 0
    assert link["last_error"] and "cannot reach" in link["last_error"]
