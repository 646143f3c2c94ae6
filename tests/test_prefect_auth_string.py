"""A self-hosted Prefect server secured with PREFECT_SERVER_API_AUTH_STRING: `[[forward]]`,
`[[subscribe]]` and `automation push/pull` send its auth string as Prefect's client does (HTTP
Basic, and the websocket `auth` token), and a wrong one is a clear error in status and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect_env import PREFECT_TEST_TIMEOUT, PrefectServer, wait_for

pytestmark = pytest.mark.timeout(PREFECT_TEST_TIMEOUT)

AUTH_STRING = "admin:s3cret-pass"


@pytest.fixture(scope="module")
def secured_server(prefect_py: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[PrefectServer]:
    server = PrefectServer(prefect_py, tmp_path_factory.mktemp("prefect-secured"),
                           auth_string=AUTH_STRING).start()
    try:
        yield server
    finally:
        server.stop()


def tocsin(d, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(d.socket),
                           *args], capture_output=True, text=True, timeout=60,
                          env={**clean, **env})


def links(server: PrefectServer, prefix: str) -> str:
    """A right and a wrong link each way; the wrong ones must fail, and say why."""
    out = []
    for name, variable in (("good", "TOCSIN_TEST_AUTH"), ("bad", "TOCSIN_TEST_WRONG_AUTH")):
        out.append(f'[[forward]]\nname = "fwd-{name}"\nurl = "{server.api_url}"\n'
                   f'auth_string_env = "{variable}"\nnames = ["{prefix}.out.*"]\n')
        out.append(f'[[subscribe]]\nname = "sub-{name}"\nurl = "{server.api_url}"\n'
                   f'auth_string_env = "{variable}"\nnames = ["{prefix}.in.*"]\n')
    return "".join(out)


def test_links_and_push_pull_send_a_secured_servers_auth_string(
        make_daemon, tmp_path, secured_server: PrefectServer):
    prefix = f"auth{uuid.uuid4().hex[:8]}"
    config = tmp_path / "tocsin.toml"
    config.write_text(links(secured_server, prefix))
    d = make_daemon(config=config, env={"TOCSIN_TEST_AUTH": AUTH_STRING,
                                        "TOCSIN_TEST_WRONG_AUTH": "admin:wrong"}).start()

    def status() -> dict:
        with d.client() as c:
            components = c.health()["components"]
        return {**components["forward"], **components["subscribe"]}

    # forward: tocsin's events reach the secured server
    with d.client() as c:
        c.emit([{"event": f"{prefix}.out.item", "resource": {"prefect.resource.id": f"i.{i}"}}
                for i in range(20)])
    wait_for(lambda: secured_server.count_events(prefix=f"{prefix}.out.") >= 20, 60,
             "the forwarded events in the secured Prefect")
    # subscribe: the secured server's events reach tocsin
    wait_for(lambda: status()["sub-good"]["connected"], 30, "the subscription")
    secured_server.request("POST", "/events", [{
        "id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(),
        "event": f"{prefix}.in.ping", "resource": {"prefect.resource.id": "p"}}])

    def subscribed() -> bool:
        with d.client() as c:
            return len(c.filter_events(names=[f"{prefix}.in.ping"])["events"]) == 1
    wait_for(subscribed, 30, "the secured server's event in tocsin")

    # the wrong string: each link says what was wrong and what to set
    def refused() -> dict | None:
        now = status()
        return now if (now["fwd-bad"]["last_error"] and now["sub-bad"]["last_error"]) else None
    now = wait_for(refused, 30, "the wrong links' errors")
    assert "401 Unauthorized" in now["fwd-bad"]["last_error"]
    assert "auth_string_env" in now["fwd-bad"]["last_error"]
    assert "refused tocsin's credentials" in now["sub-bad"]["last_error"]
    assert now["fwd-bad"]["lag_events"] >= 20  # nothing confirmed: every stored event lags
    assert now["fwd-good"]["last_error"] is None and now["sub-good"]["last_error"] is None

    # push and pull, by flag and by Prefect's own variable
    with d.client() as c:
        c.request("POST", "/automations/", {
            "name": f"{prefix}-auto", "trigger": {"expect": ["x.y"], "posture": "Reactive"},
            "actions": [{"type": "do-nothing"}]})
    pushed = tocsin(d, "automation", "push", "--to", secured_server.api_url, f"{prefix}-auto",
                    "--auth-string-env", "MY_AUTH", MY_AUTH=AUTH_STRING)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"created automation {prefix}-auto")
    theirs = secured_server.request("POST", "/automations/filter", {})
    assert [a["name"] for a in theirs].count(f"{prefix}-auto") == 1
    pulled = tocsin(d, "automation", "pull", "--from", secured_server.api_url, f"{prefix}-auto",
                    PREFECT_API_AUTH_STRING=AUTH_STRING)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.startswith(f"unchanged automation {prefix}-auto")

    wrong = tocsin(d, "automation", "pull", "--from", secured_server.api_url,
                   PREFECT_API_AUTH_STRING="admin:wrong")
    assert wrong.returncode == 1
    assert "401 Unauthorized" in wrong.stderr and "--auth-string-env" in wrong.stderr
    unset = tocsin(d, "automation", "push", "--to", secured_server.api_url,
                   "--auth-string-env", "TOCSIN_TEST_UNSET")
    assert unset.returncode == 78 and "TOCSIN_TEST_UNSET" in unset.stderr
    both = tocsin(d, "automation", "push", "--to", secured_server.api_url,
                  "--auth-string-env", "A", "--api-key-env", "B")
    assert both.returncode == 2 and "not allowed with" in both.stderr
