"""Incoming webhooks against a real daemon: created with the CLI, called over real HTTP on
127.0.0.1 (Prefect's documented example, with curl as written), refused with reasons."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

SAMPLES = Path(__file__).parent.parent / "samples"


@pytest.fixture
def hooked(make_daemon, tmp_path: Path):
    config = tmp_path / "tocsin.toml"
    config.write_text("[webhooks]\nenabled = true\nhost = \"127.0.0.1\"\nport = 0\n")
    return make_daemon(config=config).start()


def tocsin(d: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(d.socket),
                           *args], check=False, capture_output=True, text=True, timeout=30)


def post(url: str, data: bytes, content_type: str = "application/json",
         headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def stored(d: Any, name: str) -> list[dict[str, Any]]:
    with d.client() as c:
        return c.filter_events(names=[name], limit=100, order="oldest")["events"]


def create(d: Any, name: str, template: str, tmp: Path) -> str:
    path = tmp / f"{name}.j2"
    path.write_text(template)
    result = tocsin(d, "webhook", "create", name, "--template", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the documented example uses curl")
def test_prefects_documented_example_works_as_written(hooked) -> None:
    result = tocsin(hooked, "webhook", "create", "model-updates", "--template",
                    str(SAMPLES / "webhooks" / "model-update.j2"))
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and "/hooks/" in url
    curl = subprocess.run(["curl", "-sS", "-X", "POST", url, "-d", "model_id=adhoc",
                           "-d", "run_count=10", "-d", "friendly_name=test-user-input"],
                          check=False, capture_output=True, text=True, timeout=30)
    assert curl.returncode == 0, curl.stderr
    [event] = stored(hooked, "model-update")
    assert event["id"] == json.loads(curl.stdout)["id"]
    assert event["resource"] == {"prefect.resource.id": "product.models.adhoc",
                                 "prefect.resource.name": "test-user-input",
                                 "run_count": "10"}
    [related] = event["related"]
    assert related["prefect.resource.role"] == "webhook"
    assert related["prefect.resource.name"] == "model-updates"
    assert event["payload"]["method"] == "POST"


def test_json_body_headers_method_and_query_reach_the_template(hooked, tmp_path: Path) -> None:
    template = ('{"event": "gh.{{ headers[\'X-GitHub-Event\'] }}", "resource": '
                '{"prefect.resource.id": "repo.{{ body.repository.name }}", '
                '"auth": "{{ headers.authorization }}"}, '
                '"payload": {"method": "{{ method }}", "ref": "{{ query.ref }}", '
                '"sizes": {{ body.sizes | tojson }}}}')
    url = create(hooked, "github", template, tmp_path)
    body = json.dumps({"repository": {"name": "tocsin"}, "sizes": [1, 2]}).encode()
    status, answer = post(url + "?ref=main", body, headers={"X-GitHub-Event": "push",
                                                           "Authorization": "Bearer secret"})
    assert status == 202, answer
    [event] = stored(hooked, "gh.push")
    assert event["resource"]["prefect.resource.id"] == "repo.tocsin"
    assert event["resource"]["auth"] == ""  # Authorization never reaches the template
    assert event["payload"] == {"method": "POST", "ref": "main", "sizes": [1, 2]}


def test_wrong_slug_is_404_bad_body_is_400_and_the_listener_goes_on(hooked, tmp_path) -> None:
    url = create(hooked, "strict", '{"event": "x.{{ body.kind }}", "resource": '
                                   '{"prefect.resource.id": "{{ body.id }}"}}', tmp_path)
    base = url.rsplit("/hooks/", 1)[0]
    assert post(base + "/hooks/not-a-slug", b"{}")[0] == 404
    status, answer = post(url, b"plain text, not what the template expects")
    assert status == 400
    assert "prefect.resource.id" in answer["detail"]
    status, answer = post(url, b"{}", content_type="application/json")
    assert status == 400 and "prefect.resource.id" in answer["detail"]
    status, _ = post(url, json.dumps({"kind": "ok", "id": "thing.1"}).encode())
    assert status == 202
    assert [e["resource"]["prefect.resource.id"] for e in stored(hooked, "x.ok")] == ["thing.1"]
    counters = hooked.client().health()["components"]["webhooks"]
    assert (counters["stored"], counters["refused"]) == (1, 2)


def test_create_list_delete(hooked, tmp_path: Path) -> None:
    url = create(hooked, "one", '{"event": "e", "resource": {"prefect.resource.id": "r"}}',
                 tmp_path)
    bad = tmp_path / "bad.j2"
    bad.write_text('{"event": "{{ body.x ">')
    result = tocsin(hooked, "webhook", "create", "two", "--template", str(bad))
    assert result.returncode == 65 and "template" in result.stderr
    again = tocsin(hooked, "webhook", "create", "one", "--template", str(bad.with_name("one.j2")))
    assert again.returncode != 0 and "exists" in again.stderr
    listed = json.loads(tocsin(hooked, "webhook", "ls", "--json").stdout)
    assert [(h["name"], h["url"]) for h in listed] == [("one", url)]
    assert len(listed[0]["slug"]) >= 32
    hooked.restart()  # webhooks are stored: the same URL answers after a restart
    port_url = json.loads(tocsin(hooked, "webhook", "ls", "--json").stdout)[0]["url"]
    assert post(port_url, b"{}")[0] == 202
    assert tocsin(hooked, "webhook", "delete", "one").returncode == 0
    assert post(port_url, b"{}")[0] == 404
    assert json.loads(tocsin(hooked, "webhook", "ls", "--json").stdout) == []
    assert tocsin(hooked, "webhook", "delete", "one").returncode != 0


def test_listener_is_off_by_default(daemon) -> None:
    with daemon.client() as c:
        assert c.health()["components"]["webhooks"]["listener"] == "off"
        hook = c.request("POST", "/webhooks", {"name": "later", "template": "{}"})
    assert hook["url"] is None


def test_sighup_turns_the_listener_on_and_off(make_daemon, tmp_path: Path) -> None:
    import signal

    config = tmp_path / "tocsin.toml"
    config.write_text("")
    d = make_daemon(config=config).start()

    def listening() -> str:
        with d.client() as c:
            return c.health()["components"]["webhooks"]["listener"]

    def after_hup(want_off: bool) -> str:
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = listening()
            if (now == "off") == want_off:
                return now
            time.sleep(0.05)
        raise AssertionError(f"listener still {listening()}")

    assert listening() == "off"
    config.write_text("[webhooks]\nenabled = true\nport = 0\n")
    address = after_hup(want_off=False)
    with d.client() as c:
        hook = c.request("POST", "/webhooks", {"name": "h", "template":
                         '{"event": "e", "resource": {"prefect.resource.id": "r"}}'})
    assert hook["url"].startswith("http://" + address.removeprefix("listening on "))
    assert post(hook["url"], b"{}")[0] == 202
    config.write_text("")
    after_hup(want_off=True)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(urllib.request.Request(hook["url"], data=b"{}"), timeout=5)
