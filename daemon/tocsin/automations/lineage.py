"""Causal lineage: which automations' firings led to an event (the causal loop guard).

A loop is an automation triggered again through its own consequences, however fast or slow;
a busy automation is not a loop. So rather than counting firings per minute, every event an
automation's firing produces carries the chain of automations that caused it, oldest first,
in Prefect's natural carriers:

- events the automation system emits for automation X (`prefect.automation.triggered`,
  `.action.triggered/executed/failed`) have X as their resource;
- flow runs an action starts have X as their `creator` related resource (Prefect's shape);
- the chain before X rides along as related `prefect.automation.<id>` resources with the
  role `lineage`, in order; a webhook call carries the whole chain in the `Tocsin-Lineage`
  header, and the webhook listener turns it back into those related resources.

The engine pauses an automation whose firing would put it in a chain more than
`loop_depth` times (see loopguard.py).
"""

from __future__ import annotations

from ..events.model import Event

PREFIX = "prefect.automation."
ROLE = "lineage"
#: related roles that name an automation in an event's causes
_CAUSE_ROLES = (ROLE, "creator")
HEADER = "Tocsin-Lineage"
#: longest chain kept: a loop is found long before, this only bounds what a header may carry
MAX_CHAIN = 64
DEFAULT_LOOP_DEPTH = 3

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


def header(chain: Chain) -> str:
    return ",".join(chain[-MAX_CHAIN:])


def from_header(value: str | None) -> Chain:
    """A `Tocsin-Lineage` header's chain; anything that is not a plain id is dropped."""
    if not value:
        return ()
    ids = [part.strip() for part in value.split(",")]
    return tuple(i for i in ids if i and len(i) <= 64 and i.replace("-", "").isalnum()
                 )[-MAX_CHAIN:]
