"""The Prefect API client's retries, against a real HTTP server on 127.0.0.1 (no Prefect
needed): a Prefect server on SQLite answers 503 while its database is locked, and a push
under load failed on one such answer."""

from __future__ import annotations

import pytest
from aiohttp import web
from tocsin.prefect import wire
from tocsin.prefect.wire import PrefectError, PrefectWire


async def serve(statuses: list[int]) -> tuple[web.AppRunner, str, list[int]]:
    """A server that answers with `statuses` in turn (then 200), recording each call."""
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        status = statuses[len(calls)] if len(calls) < len(statuses) else 200
        calls.append(status)
        return web.json_response({"try": len(calls)}, status=status)

    app = web.Application()
    app.router.add_route("*", "/api/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/api", calls


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(wire, "RETRY_DELAYS", (0.01, 0.01, 0.01, 0.01))


async def test_a_busy_prefect_server_is_asked_again():
    runner, url, calls = await serve([503, 429, 502])
    try:
        async with PrefectWire(url) as api:
            assert await api.request("PUT", "/automations/x", {}) == {"try": 4}
        assert calls == [503, 429, 502, 200]
    finally:
        await runner.cleanup()


async def test_a_refusal_is_not_retried_and_a_busy_server_not_forever():
    runner, url, calls = await serve([422, 503, 503, 503, 503, 503])
    try:
        async with PrefectWire(url) as api:
            with pytest.raises(PrefectError) as refused:
                await api.request("POST", "/automations/", {})
            assert refused.value.status == 422 and calls == [422]
            with pytest.raises(PrefectError) as busy:
                await api.request("POST", "/automations/", {})
            assert busy.value.status == 503 and len(calls) == 6
    finally:
        await runner.cleanup()
