"""One error hierarchy (errors.py): each class has its status, code and exit code; the socket
API answers any of them as `{"detail", "code"}`; the clients raise the same class from the
answer; the CLI exits with the class's code. Against a real daemon on a real socket."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tocsin import errors
from tocsin.client.aio import AsyncClient
from tocsin.client.sync import _Connection
from tocsin.errors import (
    ApiError,
    Conflict,
    InvalidInput,
    InvalidJson,
    InvalidTemplate,
    NotFound,
    TocsinError,
    from_answer,
)

EVENT_TEMPLATE = '{"event": "e", "resource": {"prefect.resource.id": "r"}}'


def _classes() -> list[type[TocsinError]]:
    return [c for c in vars(errors).values()
            if isinstance(c, type) and issubclass(c, TocsinError)]


def test_every_class_has_its_own_code_a_status_and_an_exit_code():
    classes = _classes()
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes), sorted(codes)
    for cls in classes:
        assert "code" in vars(cls), f"{cls.__name__} names no code of its own"
        assert isinstance(cls.status, int) and 400 <= cls.status <= 599, cls
        assert isinstance(cls.exit_code, int), cls
    answerable = {c for c in classes if issubclass(c, ApiError) and c is not ApiError}
    assert answerable == set(errors.ANSWERS)


@pytest.mark.parametrize("cls", errors.ANSWERS, ids=lambda c: c.__name__)
def test_an_answer_becomes_the_class_that_was_raised(cls):
    raised = from_answer(cls.status, {"detail": "why", "code": cls.code})
    assert type(raised) is cls and raised.status == cls.status and raised.detail == "why"
    assert str(raised) == f"daemon refused the request ({cls.status}): why"


def test_an_answer_without_a_known_code_goes_by_its_status():
    assert type(from_answer(404, {"detail": "Not Found"})) is NotFound
    assert type(from_answer(422, {"detail": [{"loc": "$.a", "msg": "no"}]})) is InvalidInput
    other = from_answer(405, "405: Method Not Allowed")
    assert type(other) is ApiError and other.status == 405 and other.exit_code == 1
    odd = from_answer(409, {"detail": "x", "code": "from_a_newer_daemon"})
    assert type(odd) is Conflict


def test_an_invalid_input_answer_keeps_its_fields():
    raised = from_answer(422, {"detail": [{"loc": "name", "msg": "taken"}],
                               "code": "invalid_input"})
    assert raised.errors == [("name", "taken")] and raised.exit_code == 65


def _answer(socket: Path, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """A raw request (our client would not send malformed JSON)."""
    conn = _Connection(str(socket), 30)
    try:
        status, raw = conn.exchange(method, path, body)
    finally:
        conn.close()
    return status, json.loads(raw)


@pytest.fixture
def limited(make_daemon, tmp_path):
    config = tmp_path / "tocsin.toml"
    config.write_text("max_body_bytes = 65536\n")
    return make_daemon(config=config).start()


def test_each_error_path_answers_detail_and_code(limited):
    sock = limited.socket
    with limited.client() as c:
        c.request("POST", "/webhooks", {"name": "hook", "template": EVENT_TEMPLATE})
    unknown = str(uuid.uuid4())
    cases = [
        ("GET", f"/automations/{unknown}", None, 404, "not_found"),
        ("GET", "/automations/name/nope", None, 404, "not_found"),
        ("POST", f"/automations/{unknown}/explain", b"{}", 404, "not_found"),
        ("GET", "/deployments/nope", None, 404, "not_found"),
        ("GET", f"/flow_runs/{unknown}", None, 404, "not_found"),
        ("GET", "/blocks/nope", None, 404, "not_found"),
        ("GET", "/webhooks/nope", None, 404, "not_found"),
        ("GET", f"/events/{unknown}", None, 404, "not_found"),
        ("POST", "/automations/explain", json.dumps({"event_id": unknown}).encode(), 404,
         "not_found"),
        ("POST", "/webhooks", json.dumps({"name": "hook", "template": EVENT_TEMPLATE}).encode(),
         409, "conflict"),
        ("POST", "/automations/", b'{"name": "x"}', 422, "invalid_input"),
        ("POST", "/events", b'{"event": "x", "resource": {}}', 422, "invalid_input"),
        ("POST", "/events", b"{not json", 400, "invalid_json"),
        ("POST", "/automations/", b"{not json", 400, "invalid_json"),
        ("POST", "/deployments", b"[1, 2", 400, "invalid_json"),
        ("POST", "/events", b"[" + b" " * 70_000 + b"]", 413, "too_large"),
    ]
    for method, path, body, status, code in cases:
        got, answer = _answer(sock, method, path, body)
        assert (got, answer.get("code")) == (status, code), (method, path, answer)
        assert set(answer) == {"detail", "code"} and answer["detail"], (path, answer)
        if code.startswith("invalid_"):
            assert all(set(d) == {"loc", "msg"} for d in answer["detail"]), answer
        else:
            assert isinstance(answer["detail"], str)


def test_a_template_error_answer_keeps_its_message_and_line(daemon):
    status, answer = _answer(daemon.socket, "POST", "/templates/render",
                             json.dumps({"template": "a\n{{ x }"}).encode())
    assert status == 422 and answer["code"] == "invalid_template"
    assert answer["line"] == 2 and answer["message"]
    assert answer["detail"] == [{"loc": "template", "msg": f"line 2: {answer['message']}"}]


def test_the_clients_raise_the_class_the_daemon_raised(daemon):
    missing = f"/automations/{uuid.uuid4()}"
    with daemon.client() as c:
        with pytest.raises(NotFound) as info:
            c.request("GET", missing)
        assert info.value.status == 404 and info.value.detail == "no automation with that id"
        with pytest.raises(InvalidInput) as bad:
            c.request("POST", "/automations/", {"name": "x"})
        assert bad.value.status == 422 and not isinstance(bad.value, InvalidJson)
        assert bad.value.errors and all(isinstance(loc, str) for loc, _ in bad.value.errors)
        with pytest.raises(InvalidTemplate):
            c.request("POST", "/templates/render", {"template": "{{ x }"})
        c.request("POST", "/webhooks", {"name": "hook", "template": EVENT_TEMPLATE})
        with pytest.raises(Conflict) as twice:
            c.request("POST", "/webhooks", {"name": "hook", "template": EVENT_TEMPLATE})
        assert isinstance(twice.value, ApiError) and "exists" in str(twice.value)

    async def through_the_async_client() -> None:
        async with AsyncClient(daemon.socket) as ac:
            with pytest.raises(NotFound):
                await ac.request("GET", missing)
            with pytest.raises(InvalidInput):
                await ac.request("POST", "/automations/", {"name": "x"})

    asyncio.run(through_the_async_client())


def _tocsin(socket: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(socket),
                           *args], check=False, capture_output=True, text=True, timeout=60)


def test_the_cli_exits_with_the_class_exit_code(daemon, tmp_path):
    missing = _tocsin(daemon.socket, "automation", "inspect", "nope")
    assert (missing.returncode, missing.stderr) == (
        1, "tocsin: no automation named 'nope' (see `tocsin automation ls`)\n")
    block = _tocsin(daemon.socket, "block", "delete", "nope")
    assert (block.returncode, block.stderr) == (1, "tocsin: no block named 'nope'\n")
    run = _tocsin(daemon.socket, "deployment", "run", "nope")
    assert run.returncode == 1 and "(404): no deployment with id or name 'nope'" in run.stderr
    bad = _tocsin(daemon.socket, "run", "ls", "--state", "bogus")
    assert bad.returncode == 65 and "(422): state: 'bogus'" in bad.stderr
    hook = tmp_path / "hook.j2"
    hook.write_text(EVENT_TEMPLATE)
    assert _tocsin(daemon.socket, "webhook", "create", "one", "--template", str(hook)
                   ).returncode == 0
    again = _tocsin(daemon.socket, "webhook", "create", "one", "--template", str(hook))
    assert again.returncode == 1 and "(409): a webhook named 'one' exists" in again.stderr
    gone = _tocsin(tmp_path / "none.sock", "automation", "ls")
    assert gone.returncode == 3 and "not running" in gone.stderr
