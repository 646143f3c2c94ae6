"""The `post` and `put` helpers Prefect's guide imports from `myproject.utils`: JSON requests
to the tocsin daemon's socket API (TOCSIN_SOCKET, or the default socket)."""

from typing import Any

from tocsin.client import SyncClient


def post(path: str, payload: Any = None) -> Any:
    with SyncClient() as client:
        return client.request("POST", path, payload if payload is not None else {})


def put(path: str, payload: Any = None) -> Any:
    with SyncClient() as client:
        return client.request("PUT", path, payload)
