"""Clients for the daemon's socket API.

`SyncClient` needs only the standard library, so `tocsin emit` and `emit_event` start fast;
`AsyncClient` (aiohttp, imported lazily) is for the dashboard and websocket streams. Both
offer the API by resource — `client.automations.list()`, `await aclient.runs.cancel(id)` —
from the one description in resources.py.
"""

from .sync import SyncClient, emit_event

__all__ = ["SyncClient", "emit_event", "AsyncClient"]


def __getattr__(name: str):  # lazy: importing aiohttp costs ~100 ms
    if name == "AsyncClient":
        from .aio import AsyncClient

        return AsyncClient
    raise AttributeError(name)
