"""The `/api` listener driven by a real Prefect installation: its CLI and SDK emit events into
tocsin and manage tocsin's automations with `PREFECT_API_URL` pointed at tocsin."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from daemon_proc import DaemonProcess
from prefect_env import PREFECT_TEST_TIMEOUT, PrefectServer, free_port, run_prefect

pytestmark = pytest.mark.timeout(PREFECT_TEST_TIMEOUT)


def api_daemon(make_daemon, tmp_path: Path, extra: str = "", env: dict | None = None,
               host: str = "127.0.0.1") -> tuple[DaemonProcess, str]:
    port = free_port()
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[prefect_api]\nenabled = true\nhost = "{host}"\nport = {port}\n{extra}')
    d = make_daemon(config=config, env=env).start()
    return d, f"http://127.0.0.1:{port}/api"


def http(method: str, url: str, body: object = None, headers: dict | None = None
         ) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    return status, (json.loads(raw) if raw else None)


def stored(d: DaemonProcess, name: str) -> list[dict]:
    with d.client() as c:
        return c.filter_events(names=[name], limit=1000)["events"]


def test_prefect_cli_emit_and_sdk_emit_event_land_in_tocsin(make_daemon, tmp_path, prefect_py,
                                                             prefect_server: PrefectServer):
    d, api = api_daemon(make_daemon, tmp_path)
    done = run_prefect(prefect_py, tmp_path, api, "event", "emit", "cli.said",
                       "--resource-id", "cli.res", "--payload", '{"n": 1}')
    assert done.returncode == 0, done.stderr
    [event] = stored(d, "cli.said")
    assert event["resource"]["prefect.resource.id"] == "cli.res"
    assert event["payload"] == {"n": 1}
    assert event["id"] in done.stdout.replace("\n", "")

    # emit_event from a script pointed at tocsin...
    script = ('from prefect.events import emit_event\n'
              'emit_event("script.said", resource={"prefect.resource.id": "script.res"})\n')
    done = run_prefect(prefect_py, tmp_path, api, script=script)
    assert done.returncode == 0, done.stderr
    assert [e["resource"]["prefect.resource.id"] for e in stored(d, "script.said")] == ["script.res"]

    # ...and from inside a flow run that the Prefect server orchestrates, its events sent to
    # tocsin (the flow run's context still adds the flow run as a related resource).
    script = textwrap.dedent(f"""
        from prefect import flow
        from prefect.events import emit_event
        from prefect.events.clients import PrefectEventsClient
        from prefect.events.worker import EventsWorker

        EventsWorker.set_client_override(PrefectEventsClient, api_url={api!r})

        @flow
        def tell_tocsin():
            emit_event("flow.said", resource={{"prefect.resource.id": "flow.res"}})

        tell_tocsin()
    """)
    done = run_prefect(prefect_py, tmp_path, prefect_server.api_url, script=script)
    assert done.returncode == 0, done.stderr
    [inside] = stored(d, "flow.said")
    roles = {r["prefect.resource.role"] for r in inside["related"]}
    assert {"flow-run", "flow"} <= roles, inside["related"]


def test_prefect_cli_and_sdk_manage_tocsin_automations(make_daemon, tmp_path, prefect_py):
    d, api = api_daemon(make_daemon, tmp_path)
    script = textwrap.dedent("""
        from prefect.automations import Automation
        from prefect.events.actions import DoNothing
        from prefect.events.schemas.automations import EventTrigger

        made = Automation(
            name="from-prefect-sdk",
            trigger=EventTrigger(expect={"order.created"}, match={"prefect.resource.id": "order.*"},
                                 posture="Reactive", threshold=2, within=60),
            actions=[DoNothing()]).create()
        again = Automation.read(name="from-prefect-sdk")
        assert again.id == made.id, (again.id, made.id)
        again.description = "changed through Prefect's SDK"
        again.update()
        again.disable()
        print(made.id)
    """)
    done = run_prefect(prefect_py, tmp_path, api, script=script)
    assert done.returncode == 0, done.stderr
    made_id = done.stdout.strip()
    with d.client() as c:
        mine = c.request("GET", "/automations/name/from-prefect-sdk")
    assert mine["id"] == made_id and mine["enabled"] is False
    assert mine["description"] == "changed through Prefect's SDK"
    assert mine["trigger"]["threshold"] == 2 and mine["trigger"]["within"] == 60

    listed = run_prefect(prefect_py, tmp_path, api, "automation", "ls")
    assert listed.returncode == 0 and "from-prefect-sdk" in listed.stdout, listed.stderr
    inspected = run_prefect(prefect_py, tmp_path, api, "automation", "inspect",
                            "from-prefect-sdk", "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)[0]["id"] == made_id
    for verb, enabled in (("resume", True), ("pause", False)):
        done = run_prefect(prefect_py, tmp_path, api, "automation", verb, "from-prefect-sdk")
        assert done.returncode == 0, done.stderr
        with d.client() as c:
            assert c.request("GET", f"/automations/{made_id}")["enabled"] is enabled
    done = run_prefect(prefect_py, tmp_path, api, "automation", "delete", "from-prefect-sdk",
                       "--no-prompt")
    assert done.returncode == 0, done.stderr
    with d.client() as c:
        assert c.request("POST", "/automations/filter", {}) == []


def test_events_filter_pages_and_events_out_stream_to_prefect_subscriber(make_daemon, tmp_path,
                                                                       prefect_py):
    d, api = api_daemon(make_daemon, tmp_path)
    with d.client() as c:
        c.emit([{"event": f"paged.{i}", "resource": {"prefect.resource.id": "pager"}}
                for i in range(12)])
    status, page = http("POST", f"{api}/events/filter",
                        {"filter": {"event": {"prefix": ["paged."]}, "order": "ASC"}, "limit": 5})
    assert status == 200 and page["total"] == 12
    seen = [e["event"] for e in page["events"]]
    while page["next_page"]:
        status, page = http("GET", page["next_page"])
        assert status == 200 and page["total"] == 12
        seen += [e["event"] for e in page["events"]]
    assert seen == [f"paged.{i}" for i in range(12)]
    status, refused = http("POST", f"{api}/events/filter",
                           {"filter": {"text": {"query": "x"}}})
    assert status == 422 and "text" in json.dumps(refused)

    # Prefect's own subscriber: backfill (the last minute) then live events, once each.
    script = textwrap.dedent(f"""
        import asyncio, json, urllib.request
        from prefect.events.clients import PrefectEventSubscriber
        from prefect.events.filters import EventFilter, EventNameFilter

        async def main():
            f = EventFilter(event=EventNameFilter(prefix=["paged.", "live."]))
            got = []
            async with PrefectEventSubscriber(api_url={api!r}, filter=f) as sub:
                req = urllib.request.Request({api!r} + "/events", method="POST",
                    data=json.dumps([{{"event": "live.one",
                                      "resource": {{"prefect.resource.id": "x"}}}}]).encode(),
                    headers={{"Content-Type": "application/json"}})
                urllib.request.urlopen(req).read()
                async for event in sub:
                    got.append(event.event)
                    if event.event == "live.one":
                        break
            print(json.dumps(got))

        asyncio.run(asyncio.wait_for(main(), 60))
    """)
    done = run_prefect(prefect_py, tmp_path, api, script=script)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [f"paged.{i}" for i in range(12)] + ["live.one"]


def test_what_tocsin_does_not_serve_is_a_404_naming_tocsin_and_the_route(make_daemon, tmp_path,
                                                                          prefect_py):
    _, api = api_daemon(make_daemon, tmp_path)
    status, body = http("POST", f"{api}/flow_runs/filter", {})
    assert status == 404
    assert "tocsin" in body["detail"] and "POST /api/flow_runs/filter" in body["detail"]
    done = run_prefect(prefect_py, tmp_path, api, "flow-run", "ls", timeout=60)
    assert done.returncode != 0
    assert "tocsin" in done.stdout + done.stderr


def test_api_key_is_required_away_from_loopback_and_checked(make_daemon, tmp_path, prefect_py):
    config = tmp_path / "open.toml"
    config.write_text('[prefect_api]\nenabled = true\nhost = "0.0.0.0"\nport = 0\n')
    refused = make_daemon(config=config)
    with pytest.raises(RuntimeError, match="api_key_env"):
        refused.start()
    assert refused.proc.returncode == 78

    d, api = api_daemon(make_daemon, tmp_path, 'api_key_env = "TOCSIN_PREFECT_KEY"\n',
                        env={"TOCSIN_PREFECT_KEY": "s3cret"}, host="0.0.0.0")
    assert http("GET", f"{api}/health")[0] == 401
    assert http("GET", f"{api}/health", headers={"Authorization": "Bearer s3cret"}) == (200, True)
    done = run_prefect(prefect_py, tmp_path, api, "event", "emit", "keyed.event",
                       "--resource-id", "k", PREFECT_API_AUTH_STRING="s3cret")
    assert done.returncode == 0, done.stderr
    assert len(stored(d, "keyed.event")) == 1
    done = run_prefect(prefect_py, tmp_path, api, "event", "emit", "unkeyed.event",
                       "--resource-id", "k", PREFECT_API_AUTH_STRING="wrong")
    assert done.returncode != 0 and "401" in done.stdout + done.stderr
    assert stored(d, "unkeyed.event") == []


def test_prefect_cloud_workspace_prefix_is_an_alias_for_api(make_daemon, tmp_path):
    """A Prefect Cloud URL with only its host changed reaches the same routes, any ids."""
    _, api = api_daemon(make_daemon, tmp_path)
    cloud = f"{api}/accounts/0ff44498-d380/workspaces/my-workspace"
    assert http("GET", f"{cloud}/health", headers={"Authorization": "Bearer pnu_any"}) == (
        200, True)
    status, created = http("POST", f"{cloud}/automations/", {
        "name": "via-cloud-url", "trigger": {"expect": ["x.y"]},
        "actions": [{"type": "do-nothing"}]})
    assert status == 201, created
    assert http("GET", f"{api}/automations/{created['id']}") == (200, created)
    status, body = http("POST", f"{cloud}/flow_runs/filter", {})
    assert status == 404 and "tocsin" in body["detail"]


def test_listener_status_says_listening_on_or_failed_as_the_webhook_listener_does(
        make_daemon, tmp_path):
    def status_line(d: DaemonProcess) -> str:
        shown = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket",
                                str(d.socket), "status"], capture_output=True, text=True,
                               timeout=30)
        assert shown.returncode == 0, shown.stderr
        return next(line.strip() for line in shown.stdout.splitlines()
                    if line.strip().startswith("prefect_api"))

    first, api = api_daemon(make_daemon, tmp_path)
    port = int(api.rsplit(":", 1)[1].removesuffix("/api"))
    with first.client() as c:
        assert c.health()["components"]["prefect_api"]["listener"] == (
            f"listening on 127.0.0.1:{port}")
    assert status_line(first).startswith(f"prefect_api listener listening on 127.0.0.1:{port},")
    # a second daemon with the same config cannot bind the port: it says why, and runs on
    second = make_daemon(config=tmp_path / "tocsin.toml").start()
    with second.client() as c:
        assert c.health()["components"]["prefect_api"]["listener"] == "failed: address in use"
    assert status_line(second).startswith("prefect_api listener failed: address in use,")
