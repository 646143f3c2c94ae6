"""Prefect's event filter (`POST /api/events/filter`, the `events/out` filter message) as
tocsin's EventFilter, and back (what `[[subscribe]]` asks a Prefect server for).

Only what tocsin's filter can mean exactly is translated; the rest (exclusions, text search,
`any_resource`) is refused by name rather than silently widened.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ..errors import InvalidInput
from ..events.filter import EventFilter
from ..events.matching import is_glob

Spec = dict[str, str | list[str]]

#: Parts of Prefect's filter tocsin cannot mean exactly; a request that sets one is refused.
_UNSUPPORTED = {
    "event": ("exclude_prefix", "exclude_name"),
    "resource": ("distinct",),
    "related": ("resources_in_roles",),
}


def _set(value: Any) -> bool:
    return value not in (None, [], {}, False)


def _refuse(path: str) -> InvalidInput:
    return InvalidInput([(path, "tocsin's Prefect API does not support this filter field; "
                                "filter on names, resource and related labels instead")])


def _resource_spec(part: dict[str, Any], path: str) -> Spec:
    """`{id, id_prefix, labels, role}` as one label spec (`role` only for related)."""
    for name in _UNSUPPORTED.get(path, ()):
        if _set(part.get(name)):
            raise _refuse(f"{path}.{name}")
    spec: Spec = dict(part.get("labels") or {})
    ids = [*(part.get("id") or []), *(f"{p}*" for p in part.get("id_prefix") or [])]
    if ids:
        spec["prefect.resource.id"] = ids
    if part.get("role"):
        spec["prefect.resource.role"] = list(part["role"])
    return spec


def from_prefect(body: dict[str, Any] | None, limit: int = 50) -> tuple[EventFilter, list[str]]:
    """tocsin's filter for a Prefect filter, and the event ids it asks for (Prefect's `id`)."""
    body = body or {}
    for name in ("any_resource", "text"):
        if _set(body.get(name)):
            raise _refuse(name)
    occurred = body.get("occurred") or {}
    event = body.get("event") or {}
    for name in _UNSUPPORTED["event"]:
        if _set(event.get(name)):
            raise _refuse(f"event.{name}")
    names = [*(event.get("name") or []), *(f"{p}*" for p in event.get("prefix") or [])]
    related = body.get("related") or []
    related_parts = [related] if isinstance(related, dict) else related
    try:
        f = msgspec.convert({
            "since": occurred.get("since"), "until": occurred.get("until"),
            "names": names, "resource": _resource_spec(body.get("resource") or {}, "resource"),
            "related": [_resource_spec(r, "related") for r in related_parts],
            "order": "oldest" if str(body.get("order", "DESC")).upper() == "ASC" else "newest",
            "limit": limit,
        }, EventFilter)
    except msgspec.ValidationError as exc:
        raise InvalidInput([("filter", str(exc))]) from None
    ids = (body.get("id") or {}).get("id") or []
    return f, [str(i) for i in ids]


def to_prefect(names: list[str], resource: Spec, since: datetime | None = None,
               order: str = "ASC") -> dict[str, Any]:
    """A Prefect filter asking for at least what `names`/`resource` select (a glob in the
    middle of a pattern cannot be said to Prefect: ask wider and filter locally)."""
    out: dict[str, Any] = {"order": order, "occurred": {
        "since": (since or datetime.now(UTC) - timedelta(days=180)).isoformat(),
        "until": (datetime.now(UTC) + timedelta(days=365)).isoformat()}}
    event = _exact_and_prefixes(names)
    if event:
        out["event"] = event
    ids = resource.get("prefect.resource.id")
    spec = _exact_and_prefixes([ids] if isinstance(ids, str) else ids or [])
    labels = {k: v for k, v in resource.items()
              if k != "prefect.resource.id" and not any(is_glob(x) or x.startswith("!")
                                                        for x in ([v] if isinstance(v, str) else v))}
    if spec or labels:
        out["resource"] = {"id": spec.get("name"), "id_prefix": spec.get("prefix"),
                           "labels": labels or None}
    return out


def _exact_and_prefixes(patterns: list[str]) -> dict[str, list[str]]:
    """`{name: [...]}` or `{prefix: [...]}` when every pattern is exact, or every one is
    `prefix*`; empty (ask for everything) otherwise — Prefect ANDs a `name` with a `prefix`."""
    exact, prefixes = [], []
    for p in patterns:
        head = p[:-1] if p.endswith("*") else p
        if p.startswith("!") or is_glob(head):
            return {}
        (prefixes if p.endswith("*") else exact).append(head)
    if exact and prefixes:
        return {}
    return {"name": exact} if exact else {"prefix": prefixes} if prefixes else {}
