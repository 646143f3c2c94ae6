"""Secrets that need not live in the store: `{env:NAME}` in block URLs and headers, resolved
when the action runs, never stored or shown; blocks that could never work refused at creation."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import subprocess
import sys

import msgspec
import pytest
from actions_sinks import (
    HttpSink,
    InProcessDaemon,
    action_events,
    actions_of,
    automation,
    fire,
    order_event,
    outbox,
    until,
)
from tocsin.actions.blocks import BlockCreate, WebhookTarget, mask_apprise_url, mask_headers
from tocsin.envrefs import MissingEnv, resolve
from tocsin.errors import InvalidInput

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


@pytest.fixture
def sink():
    s = HttpSink().start()
    yield s
    s.stop()


def _settled(daemon, n: int):
    async def check() -> bool:
        rows = await outbox(daemon)
        return len(rows) >= n and all(r[1] != "pending" for r in rows)
    return check


def _stored_blocks(daemon) -> bytes:
    """The blocks table as bytes on disk, read with plain sqlite3 (what another reader gets)."""
    with sqlite3.connect(daemon.paths.home / "tocsin.db") as db:
        return b"".join(bytes(r[0]) for r in db.execute("SELECT data FROM blocks"))


def test_references_resolve_from_the_environment_and_name_what_is_missing():
    assert resolve("a{env:X}b{env:Y_2}", {"X": "1", "Y_2": "2"}) == "a1b2"
    with pytest.raises(MissingEnv, match="TOCSIN_T_UNSET"):
        resolve("{env:TOCSIN_T_UNSET}", {})


def test_masking_shows_references_as_typed_and_hides_what_apprise_calls_secret():
    assert mask_apprise_url("json://user:{env:PW}@127.0.0.1:9/n") == \
        "json://user:{env:PW}@127.0.0.1:9/n"
    assert mask_apprise_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ") == \
        "slack://****/****/****"  # typed, not apprise's rewritten URL with its defaults
    assert mask_apprise_url("tgram://123456789:AAHfabcdefghijk/12315544/") == \
        "tgram://****:****/12315544/"
    assert mask_headers({"Authorization": "Bearer {env:T}", "X-Key": "k{env:T}",
                         "X-Other": "{env:O}"}) == \
        {"Authorization": "Bearer {env:T}", "X-Key": "****", "X-Other": "{env:O}"}


async def test_webhook_block_secrets_resolved_at_send_time_never_stored(sink, monkeypatch,
                                                                        caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TOCSIN_T_TOKEN", "tok-first-1234")
    monkeypatch.setenv("TOCSIN_T_KEY", "qkey-5678")
    async with InProcessDaemon() as daemon:
        blocks = actions_of(daemon).blocks
        await blocks.create(daemon.store, BlockCreate(name="hook", webhook=WebhookTarget(
            url=f"{sink.url}/in?key={{env:TOCSIN_T_KEY}}",
            headers={"Authorization": "Bearer {env:TOCSIN_T_TOKEN}"})))
        auto = automation([{"type": "call-webhook", "block": "hook", "payload": "x"}])
        await fire(daemon, auto, order_event())
        got = await sink.arrived(1)
        assert got[0].headers["Authorization"] == "Bearer tok-first-1234"
        monkeypatch.setenv("TOCSIN_T_TOKEN", "tok-second-9999")  # rotated: the next send uses it
        await fire(daemon, auto, order_event())
        got = await sink.arrived(2)
        assert got[1].headers["Authorization"] == "Bearer tok-second-9999"
        await until(_settled(daemon, 2))
        shown = json.dumps([b.masked() for b in blocks.list()])
        events = msgspec.json.encode(await action_events(daemon)).decode()
        stored = _stored_blocks(daemon)
        for secret in ("tok-first-1234", "tok-second-9999", "qkey-5678"):
            assert secret not in shown and secret not in events and secret not in caplog.text
            assert secret.encode() not in stored
        assert "Bearer {env:TOCSIN_T_TOKEN}" in shown and "{env:TOCSIN_T_KEY}" in shown


async def test_notification_url_secret_from_env_reaches_apprise(sink, monkeypatch):
    monkeypatch.setenv("TOCSIN_T_PW", "hunter22pw")
    async with InProcessDaemon() as daemon:
        blocks = actions_of(daemon).blocks
        host = sink.url.removeprefix("http://")
        await blocks.create(daemon.store, BlockCreate(
            name="ops", urls=[f"json://bob:{{env:TOCSIN_T_PW}}@{host}/n"]))
        await fire(daemon, automation([{"type": "send-notification", "block": "ops",
                                        "body": "hi"}]), order_event())
        got = await sink.arrived(1)
        assert got[0].headers["Authorization"] == \
            "Basic " + base64.b64encode(b"bob:hunter22pw").decode()
        assert b"hunter22pw" not in _stored_blocks(daemon)
        assert blocks.list()[0].masked()["urls"] == [f"json://bob:{{env:TOCSIN_T_PW}}@{host}/n"]


async def test_an_unset_variable_fails_the_action_once_with_its_name(sink, monkeypatch):
    monkeypatch.delenv("TOCSIN_T_NOPE", raising=False)
    async with InProcessDaemon() as daemon:
        await actions_of(daemon).blocks.create(daemon.store, BlockCreate(
            name="hook", webhook=WebhookTarget(url=f"{sink.url}/x",
                                               headers={"X-Key": "{env:TOCSIN_T_NOPE}"})))
        await fire(daemon, automation([{"type": "call-webhook", "block": "hook"}]),
                   order_event())
        await until(_settled(daemon, 1))
        [(_, status, attempts, _)] = await outbox(daemon)
        assert (status, attempts) == ("failed", 1)  # not retried: the environment won't change
        failed = (await action_events(daemon))[-1]
        assert "TOCSIN_T_NOPE" in failed.payload["reason"]
        assert "internal error" not in failed.payload["reason"]


def test_block_cli_refuses_blocks_that_cannot_work_and_lists_what_was_typed(daemon):
    cli = [*TOCSIN, "--socket", str(daemon.socket), "block"]
    out = subprocess.run([*cli, "create", "both", "--webhook", "https://u:pw@h.example/in",
                          "--header", "Authorization: Bearer x"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 65
    assert "webhook.headers.Authorization" in out.stderr and "keep one" in out.stderr
    out = subprocess.run([*cli, "create", "bad", "--webhook", "https://h.example/in",
                          "--header", "X-Key: {env:bad-name}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 65 and "{env:NAME}" in out.stderr

    typed = "json://user:{env:TOCSIN_T_PW}@127.0.0.1:9/n"
    made = subprocess.run([*cli, "create", "ops", "--url", typed,
                           "--url", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"],
                          capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    out = subprocess.run([*cli, "ls"], capture_output=True, text=True, timeout=30)
    assert f"{typed} slack://****/****/****" in out.stdout
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in out.stdout and "overflow=" not in out.stdout


def test_invalid_input_for_two_credentials_names_the_field():
    from tocsin.actions.blocks import validate_block

    with pytest.raises(InvalidInput) as err:
        validate_block(BlockCreate(name="x", webhook=WebhookTarget(
            url="https://u:p@h.example/", headers={"authorization": "Basic eA=="})))
    assert err.value.errors[0][0] == "webhook.headers.Authorization"
