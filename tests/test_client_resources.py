"""The resource client: one description of the API, run by the sync and the async client
alike, against a real daemon; and the async client's failures are tocsin's, not aiohttp's."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tocsin.client import AsyncClient, SyncClient
from tocsin.client.resources import API, Call
from tocsin.client.sync import build_event
from tocsin.errors import ApiError, DaemonNotRunning

AUTOMATION = {
    "name": "slow-orders",
    "trigger": {"type": "event", "expect": ["order.created"], "posture": "Reactive",
                "threshold": 1, "within": 0},
    "actions": [{"type": "do-nothing"}],
}


def test_importing_the_client_does_not_load_aiohttp():
    """`tocsin emit` and `emit_event` pay only for the standard library."""
    code = ("import sys, tocsin.client, tocsin.client.resources; "
            "from tocsin.client import SyncClient, emit_event; "
            "print('aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_call_is_described_with_its_names_quoted():
    assert API.runs.cancel("a b/c") == Call("POST", "/flow_runs/a%20b%2Fc/cancel", {})
    assert API.runs.resume("r1", "from the dashboard") == Call(
        "POST", "/flow_runs/r1/resume", {"message": "from the dashboard"})
    assert API.runs.list(5, deployment="my dep") == Call(
        "GET", "/flow_runs?limit=5&deployment=my+dep")
    assert API.automations.explain({"event_id": "e"}, "a1") == Call(
        "POST", "/automations/a1/explain", {"event_id": "e"})
    assert API.templates.render("{{ x }}", event_id="e1") == Call(
        "POST", "/templates/render", {"template": "{{ x }}", "event_id": "e1"})


async def test_sync_and_async_clients_give_the_same_answers(daemon):
    with SyncClient(daemon.socket) as sync:
        made = sync.automations.create(AUTOMATION)
        sync.blocks.create({"name": "ops-mail", "urls": ["mailto://ops@example.com"]})
        event = build_event("order.created", {"prefect.resource.id": "shop.order.1"},
                            payload={"total": 7})
        sync.events.emit([event])
        answers = {
            "automations": sync.automations.list(),
            "by_name": sync.automations.by_name("slow-orders"),
            "get": sync.automations.get(made["id"]),
            "blocks": sync.blocks.list(),
            "deployments": sync.deployments.list(),
            "runs": sync.runs.list(limit=10),
            "webhooks": sync.webhooks.list(),
            "events": sync.events.filter(names=["order.created"])["events"],
            "render": sync.templates.render("total {{ event.payload.total }}", event_id=event["id"]),
        }
        with pytest.raises(ApiError) as sync_refusal:
            sync.automations.by_name("no-such")
    async with AsyncClient(daemon.socket) as aio:
        same = {
            "automations": await aio.automations.list(),
            "by_name": await aio.automations.by_name("slow-orders"),
            "get": await aio.send(API.automations.get(made["id"])),
            "blocks": await aio.blocks.list(),
            "deployments": await aio.deployments.list(),
            "runs": await aio.runs.list(limit=10),
            "webhooks": await aio.webhooks.list(),
            "events": (await aio.events.filter(names=["order.created"]))["events"],
            "render": await aio.templates.render("total {{ event.payload.total }}",
                                                 event_id=event["id"]),
        }
        with pytest.raises(ApiError) as async_refusal:
            await aio.automations.by_name("no-such")
    assert same == answers
    assert answers["render"] == {"output": "total 7"}
    assert [a["name"] for a in answers["automations"]] == ["slow-orders"]
    assert [b["name"] for b in answers["blocks"]] == ["ops-mail"]
    assert [e["id"] for e in answers["events"]] == [event["id"]]
    assert type(async_refusal.value) is type(sync_refusal.value)
    assert async_refusal.value.status == sync_refusal.value.status == 404


async def test_changes_through_the_async_client_show_in_the_sync_one(daemon):
    async with AsyncClient(daemon.socket) as aio:
        made = await aio.automations.create(AUTOMATION)
        await aio.automations.set_enabled(made["id"], False)
    with SyncClient(daemon.socket) as sync:
        assert sync.automations.get(made["id"])["enabled"] is False
        sync.automations.delete(made["id"])
        assert sync.automations.list() == []


async def test_no_daemon_is_daemon_not_running_for_requests_and_streams():
    missing = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp")) / "none.sock"
    async with AsyncClient(missing) as aio:
        with pytest.raises(DaemonNotRunning):
            await aio.health()
        with pytest.raises(DaemonNotRunning):
            async for _ in aio.stream():
                pass


async def test_a_daemon_that_never_answers_is_daemon_not_running():
    """Accepted but never answered (a hung daemon): after the timeout, tocsin's error, not
    asyncio's or aiohttp's."""
    path = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp")) / "mute.sock"
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(path))
    mute.listen()
    try:
        async with AsyncClient(path, timeout=0.3) as aio:
            with pytest.raises(DaemonNotRunning):
                await asyncio.wait_for(aio.health(), 10)
    finally:
        mute.close()
