"""EventFilter: one description of "which events", shared by the store's queries, the live
`/events/out` stream and the CLI, so a filter means the same thing everywhere.

Parts that SQLite can answer from an index (time range, name globs, primary resource id
globs) become SQL; the rest (other labels, negation, related resources) is checked in Python
by the same compiled predicates the triggers use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import msgspec

from .matching import ResourceMatcher, compile_name_patterns, is_glob
from . import resource_index
from .model import Event

MAX_LIMIT = 10_000


class EventFilter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    since: datetime | None = None
    until: datetime | None = None
    names: list[str] = msgspec.field(default_factory=list)
    resource: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    related: dict[str, str | list[str]] | list[dict[str, str | list[str]]] = msgspec.field(
        default_factory=dict
    )
    order: Literal["newest", "oldest"] = "newest"
    limit: int = 100
    page_token: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"`limit` must be between 1 and {MAX_LIMIT}")
        if self.since is not None and self.since.tzinfo is None:
            self.since = self.since.replace(tzinfo=UTC)
        if self.until is not None and self.until.tzinfo is None:
            self.until = self.until.replace(tzinfo=UTC)

    def compile(self) -> CompiledFilter:
        return CompiledFilter(self)


def us(dt: datetime) -> int:
    """Microseconds since the epoch: how the store keeps times (sortable integers)."""
    return int(dt.timestamp() * 1_000_000)


def _sql_glob(pattern: str) -> str | None:
    """An fnmatch glob as an SQLite GLOB pattern, or None if only Python can judge it."""
    if pattern.startswith("!") or "[" in pattern:
        return None
    return pattern


class CompiledFilter:
    """The filter split into an SQL WHERE clause and a Python predicate for the rest."""

    def __init__(self, f: EventFilter) -> None:
        self.filter = f
        self.where, self.params = self._sql(f)
        self._name_ok = compile_name_patterns(f.names)
        self._resources_ok = ResourceMatcher(f.resource, f.related)
        self._since = f.since
        self._until = f.until
        self.needs_python = bool(
            any(_sql_glob(p) is None for p in f.names)
            or set(f.resource) - {"prefect.resource.id"}
            or f.related
            or self._resource_id_python(f)
        )

    @staticmethod
    def _resource_id_python(f: EventFilter) -> bool:
        ids = f.resource.get("prefect.resource.id")
        if ids is None:
            return False
        values = [ids] if isinstance(ids, str) else ids
        return any(_sql_glob(v) is None for v in values)

    @staticmethod
    def _ids_matching(table: str, column: str,
                      patterns: Sequence[str]) -> tuple[str, list[object]] | None:
        """A subquery for the ids of the rows of `table` whose `column` matches a pattern, or
        None when a pattern is one only Python can judge."""
        globs = [_sql_glob(p) for p in patterns]
        if not patterns or any(g is None for g in globs):
            return None
        clause = " OR ".join(
            f"{column} GLOB ?" if is_glob(g) else f"{column} = ?" for g in globs  # type: ignore[arg-type]
        )
        return f"SELECT id FROM {table} WHERE {clause}", list(globs)

    def _sql(self, f: EventFilter) -> tuple[str, list[object]]:
        where: list[str] = []
        params: list[object] = []
        if f.since is not None:
            where.append("occurred >= ?")
            params.append(us(f.since))
        if f.until is not None:
            where.append("occurred <= ?")
            params.append(us(f.until))
        names = self._ids_matching("event_names", "name", f.names)
        if names is not None:
            where.append(f"name IN ({names[0]})")
            params.extend(names[1])
        ids = f.resource.get("prefect.resource.id")
        resources = self._ids_matching("event_resources", "resource_id",
                                       [ids] if isinstance(ids, str) else ids or [])
        if resources is not None:
            where.append(resource_index.matching(resources[0]))
            params.extend(resources[1] * 2)  # the subquery appears twice
        return (" AND ".join(where) or "1"), params

    def __call__(self, event: Event) -> bool:
        """The whole filter in Python (for live events that never touch SQL)."""
        if self._since is not None and event.occurred < self._since:
            return False
        if self._until is not None and event.occurred > self._until:
            return False
        return self._name_ok(event.event) and self._resources_ok(event.resource, event.related)
