"""The CLI's way to the daemon: a client for `--socket`, and the lookups several command
modules share (an automation by name, apply one automation). Kept apart from the command
modules so that they all import it and none imports another for it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import NotFound

if TYPE_CHECKING:
    from ..client.sync import SyncClient


def client(args: argparse.Namespace) -> SyncClient:
    """A client of the daemon named by `--socket` (the default one without it)."""
    from ..client.sync import SyncClient

    return SyncClient(getattr(args, "socket", None))


def find_automation(client: SyncClient, name: str) -> dict[str, Any]:
    """The automation named so, or NotFound with a hint."""
    try:
        return client.automations.by_name(name)
    except NotFound:
        raise NotFound(f"no automation named {name!r} (see `tocsin automation ls`)") from None


def apply_one(client: SyncClient, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create or replace one automation by name, as `apply` does (an unchanged one is left
    alone, keeping its windows): ("created"|"updated"|"unchanged", {"name", "id"})."""
    (result,) = client.automations.apply([body])
    return result["result"], result
