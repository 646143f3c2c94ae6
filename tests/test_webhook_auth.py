"""Webhooks that require a shared secret (HMAC-SHA256 of the body, or a bearer token), and the
listener's real state in `tocsin status` and `webhook create/ls`: a real daemon, real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import time
from pathlib import Path

from test_webhooks import post, tocsin

TEMPLATE = '{"event": "hook.called", "resource": {"prefect.resource.id": "r"}}'


def _sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _create(d, tmp_path: Path, name: str, *flags: str) -> str:
    path = tmp_path / "t.j2"
    path.write_text(TEMPLATE)
    out = tocsin(d, "webhook", "create", name, "--template", str(path), *flags)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_hmac_and_bearer_webhooks_refuse_wrong_and_missing_secrets(make_daemon, tmp_path):
    config = tmp_path / "tocsin.toml"
    config.write_text("[webhooks]\nenabled = true\nport = 0\n")
    d = make_daemon(config=config, env={"TOCSIN_T_HOOK_KEY": "k3y-from-env",
                                        "TOCSIN_T_EMPTY": ""}).start()
    signed = _create(d, tmp_path, "gh", "--hmac-secret", "{env:TOCSIN_T_HOOK_KEY}")
    bearer = _create(d, tmp_path, "ci", "--bearer-token", "t0ken-typed-here")
    unset = _create(d, tmp_path, "unset", "--bearer-token", "{env:TOCSIN_T_NOT_SET}")
    empty = _create(d, tmp_path, "empty", "--bearer-token", "{env:TOCSIN_T_EMPTY}")
    body = b'{"action": "opened"}'

    assert post(signed, body, headers={"X-Hub-Signature-256": _sign(b"k3y-from-env", body)})[0] \
        == 202
    assert post(signed, body, headers={"X-Hub-Signature-256": _sign(b"wrong", body)})[0] == 401
    assert post(signed, body)[0] == 401  # no signature
    status, answer = post(signed, body + b" ", headers={
        "X-Hub-Signature-256": _sign(b"k3y-from-env", body)})  # the body was changed
    assert status == 401 and "X-Hub-Signature-256" in answer["detail"]

    assert post(bearer, body, headers={"Authorization": "Bearer t0ken-typed-here"})[0] == 202
    assert post(bearer, body, headers={"Authorization": "Bearer t0ken-typed-her"})[0] == 401
    assert post(bearer, body)[0] == 401
    assert post(unset, body, headers={"Authorization": "Bearer "})[0] == 401  # never matches
    assert post(empty, body, headers={"Authorization": "Bearer "})[0] == 401

    with d.client() as c:
        counters = c.health()["components"]["webhooks"]
        stored = c.filter_events(names=["hook.called"], limit=10)["events"]
    assert (counters["stored"], counters["unauthorized"]) == (2, 7)
    assert "TOCSIN_T_NOT_SET" in d.log()  # the variable the daemon lacks is named
    assert len(stored) == 2
    listed = tocsin(d, "webhook", "ls", "--json").stdout
    assert "t0ken-typed-here" not in listed and "k3y-from-env" not in listed
    auths = {h["name"]: h["auth"] for h in json.loads(listed)}
    assert auths == {"gh": {"type": "hmac-sha256", "secret": "{env:TOCSIN_T_HOOK_KEY}"},
                     "ci": {"type": "bearer", "secret": "****"},
                     "unset": {"type": "bearer", "secret": "{env:TOCSIN_T_NOT_SET}"},
                     "empty": {"type": "bearer", "secret": "{env:TOCSIN_T_EMPTY}"}}
    assert "[hmac-sha256]" in tocsin(d, "webhook", "ls").stdout
    d.restart()  # the requirement is stored with the webhook
    listed = json.loads(tocsin(d, "webhook", "ls", "--json").stdout)
    assert post({h["name"]: h["url"] for h in listed}["ci"], body)[0] == 401


def test_listener_state_is_reported_listening_failed_or_off(make_daemon, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = tmp_path / "tocsin.toml"
    config.write_text(f"[webhooks]\nenabled = true\nport = {port}\n")
    d = make_daemon(config=config).start()
    try:
        assert "webhooks listener failed: address in use" in tocsin(d, "status").stdout
        made = _create(d, tmp_path, "h")
        assert "the listener failed: address in use" in made and "enabled = true" not in made
        assert "failed: address in use" in tocsin(d, "webhook", "ls").stdout
    finally:
        taken.close()
    d.proc.send_signal(signal.SIGHUP)  # the port is free now: a reload binds it
    deadline = time.monotonic() + 10
    while f"listener listening on 127.0.0.1:{port}" not in (out := tocsin(d, "status").stdout):
        assert time.monotonic() < deadline, out
        time.sleep(0.05)
    assert tocsin(d, "webhook", "ls").stdout.splitlines()[1].split()[2] == f"http://127.0.0.1:{port}/hooks/" + \
        json.loads(tocsin(d, "webhook", "ls", "--json").stdout)[0]["slug"]
