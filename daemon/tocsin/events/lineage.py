"""Causal lineage: which automations' firings led to an event (the causal loop guard).

A loop is an automation triggered again through its own consequences, however fast or slow;
a busy automation is not a loop. So rather than counting firings per minute, every event an
automation's firing produces carries the chain of automations that caused it, oldest first,
in Prefect's natural carriers:

- events the automation system emits for automation X (`prefect.automation.triggered`,
  `.action.triggered/executed/failed`) have X as their resource;
- flow runs an action starts have X as their `creator` related resource (Prefect's shape),
  and the events such a run's own code emits carry the chain through the run's environment
  (`TOCSIN_LINEAGE`, read by `emit_event` and `tocsin emit`);
- the chain before X rides along as related `prefect.automation.<id>` resources with the
  role `lineage`, in order; a webhook call carries the whole chain in the `Tocsin-Lineage`
  header, and the webhook listener turns it back into those related resources.

The header is signed with a key that lives only in this daemon process: a chain is believed
only when this daemon wrote it (a webhook action whose call comes back to our own listener,
directly or through a service that passes the header on). Anyone else who could post to a
webhook could otherwise forge a chain and get any automation paused.

The engine pauses an automation whose firing would put it in a chain more than
`loop_depth` times (see loopguard.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from typing import Any

from .model import Event

PREFIX = "prefect.automation."
ROLE = "lineage"
#: related roles that name an automation in an event's causes
_CAUSE_ROLES = (ROLE, "creator")
HEADER = "Tocsin-Lineage"
#: the variable a flow run's process finds its chain in
ENV = "TOCSIN_LINEAGE"
#: longest chain kept: a loop is found long before, this only bounds what a header may carry
MAX_CHAIN = 64
DEFAULT_LOOP_DEPTH = 3
#: signs the chains this process sends; never stored, so a restart forgets in-flight chains
_KEY = secrets.token_bytes(32)

Chain = tuple[str, ...]


def chain_of(event: Event | None) -> Chain:
    """The automations whose firings led to `event`, oldest first (empty: none did)."""
    if event is None:
        return ()
    chain = [r["prefect.resource.id"][len(PREFIX):] for r in event.related
             if r.get("prefect.resource.role") in _CAUSE_ROLES
             and r.get("prefect.resource.id", "").startswith(PREFIX)]
    own = event.resource.get("prefect.resource.id", "")
    if own.startswith(PREFIX):
        chain.append(own[len(PREFIX):])
    return tuple(chain[-MAX_CHAIN:])


def related(chain: Chain) -> list[dict[str, str]]:
    """The related resources that carry `chain` on an event."""
    return [{"prefect.resource.id": PREFIX + aid, "prefect.resource.role": ROLE}
            for aid in chain[-MAX_CHAIN:]]


def _signature(ids: str) -> str:
    return hmac.new(_KEY, ids.encode(), hashlib.sha256).hexdigest()[:32]


def of_run(created_by: Mapping[str, Any] | None) -> Chain:
    """The chain that led to a flow run: its creating automation's lineage, then that
    automation (empty for a run no automation started)."""
    creator = created_by or {}
    if creator.get("type") != "AUTOMATION" or not creator.get("id"):
        return ()
    return (*creator.get("lineage", ()), str(creator["id"]))[-MAX_CHAIN:]


def run_environment(created_by: Mapping[str, Any] | None) -> dict[str, str]:
    """What a flow run's process is given so the events its code emits carry its chain."""
    chain = of_run(created_by)
    return {ENV: ",".join(chain)} if chain else {}


def from_environment(environ: Mapping[str, str] = os.environ) -> Chain:
    """The chain of the flow run this process is (see run_environment); plain ids only."""
    return _plain_ids(environ.get(ENV, ""))


def header(chain: Chain) -> str:
    """`a,b,c;<signature>`: the chain, signed by this process."""
    ids = ",".join(chain[-MAX_CHAIN:])
    return f"{ids};{_signature(ids)}"


def from_header(value: str | None) -> Chain:
    """A `Tocsin-Lineage` header's chain when this process signed it (else none); anything
    that is not a plain id is dropped."""
    ids_part, _, signature = (value or "").rpartition(";")
    if not ids_part or not hmac.compare_digest(signature, _signature(ids_part)):
        return ()
    return _plain_ids(ids_part)


def _plain_ids(value: str) -> Chain:
    ids = [part.strip() for part in value.split(",")]
    return tuple(i for i in ids if i and len(i) <= 64 and i.replace("-", "").isalnum()
                 )[-MAX_CHAIN:]
