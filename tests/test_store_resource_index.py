"""The resource index kept in bulk behind the inserts (issue 13's flat ingest): queries by
resource find indexed and not yet indexed events alike, retention keeps it in step, a
database of the previous schema is moved to it at open, and every query uses an index."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from tocsin.events import resource_index
from tocsin.events.filter import EventFilter
from tocsin.events.model import Event
from tocsin.events.store import FORGET_UNUSED_REFS, SCHEMA, EventStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make(name: str, rid: str, at: datetime) -> Event:
    return Event(event=name, resource={"prefect.resource.id": rid}, occurred=at)


async def by_resource(s: EventStore, rid: str, **kw) -> list[int]:
    found, _ = await s.query(EventFilter(resource={"prefect.resource.id": rid}, limit=1000,
                                         order="oldest", **kw))
    return [e.payload["i"] for e in found]


def numbered(rid: str, start: int, n: int) -> list[Event]:
    return [Event(event="e", resource={"prefect.resource.id": rid}, payload={"i": i},
                  occurred=T0 + timedelta(seconds=i)) for i in range(start, start + n)]


async def indexed_upto(s: EventStore) -> int:
    rows = await s.read_sql("SELECT value FROM store_meta WHERE key = 'resource_indexed_upto'")
    return rows[0][0]


@pytest.fixture
async def s(tmp_path, monkeypatch):
    """A store whose resource index lags at most 10 events behind."""
    monkeypatch.setattr(resource_index, "LAG", 10)
    store = EventStore(tmp_path / "r.db", retention=timedelta(days=7))
    await store.open()
    yield store
    await store.close()


async def test_queries_by_resource_see_indexed_and_newer_events(s):
    await s.append(numbered("a", 0, 6) + numbered("b", 100, 5))
    await s.append(numbered("a", 6, 4))  # 11 waited (more than LAG): those are indexed now
    assert await indexed_upto(s) == 11
    await s.append(numbered("a", 10, 3))  # 4 + 3 wait
    assert await indexed_upto(s) == 11
    assert await by_resource(s, "a") == list(range(13))
    assert await by_resource(s, "b") == [100, 101, 102, 103, 104]
    assert await by_resource(s, "a", since=T0 + timedelta(seconds=9)) == [9, 10, 11, 12]
    both = [*range(13), 100, 101, 102, 103, 104]
    assert await by_resource(s, "?") == both  # an SQL glob
    assert await by_resource(s, "[ab]") == both  # one for Python
    found, token = await s.query(EventFilter(resource={"prefect.resource.id": "a"}, limit=5))
    assert [e.payload["i"] for e in found] == [12, 11, 10, 9, 8]  # newest first, paged
    found, _ = await s.query(EventFilter(resource={"prefect.resource.id": "a"}, limit=5,
                                         page_token=token))
    assert [e.payload["i"] for e in found] == [7, 6, 5, 4, 3]


async def test_opening_indexes_every_event_that_waits(s, tmp_path):
    await s.append(numbered("a", 0, 5))
    await s.close()
    await s.open()
    assert await indexed_upto(s) == 5
    assert await s.read_sql("SELECT count(*) FROM event_resource_index") == [(5,)]


async def test_retention_empties_the_index_and_reused_seqs_are_still_found(s):
    """Pruning every event lets SQLite hand out their seqs again: the events that get them
    must not be taken for indexed ones."""
    await s.append(numbered("old", 0, 20), now=T0)
    await s.append(numbered("old", 20, 1), now=T0)
    assert await indexed_upto(s) == 20
    assert await s.prune(now=T0 + timedelta(days=30)) == 21
    assert await s.read_sql("SELECT count(*) FROM event_resource_index") == [(0,)]
    await s.append(numbered("new", 0, 3), now=T0 + timedelta(days=30))
    assert [r[0] for r in await s.read_sql("SELECT seq FROM events")] == [1, 2, 3]
    assert await by_resource(s, "new") == [0, 1, 2]
    assert await by_resource(s, "old") == []


async def test_events_that_get_the_seqs_of_deleted_newest_ones_are_found(s):
    await s.append(numbered("a", 0, 12))
    await s.append(numbered("a", 12, 1))  # 12 waited: indexed
    assert await indexed_upto(s) == 12
    await s.run([("DELETE FROM events WHERE seq > ?", [(5,)])])
    await s.append(numbered("b", 0, 3))  # seqs 6, 7, 8 again
    assert [r[0] for r in await s.read_sql("SELECT seq FROM events WHERE seq > 5")] == [6, 7, 8]
    assert await by_resource(s, "b") == [0, 1, 2]
    assert await by_resource(s, "a") == [0, 1, 2, 3, 4]


async def test_retention_keeps_a_resource_only_unindexed_events_use(s):
    now = T0 + timedelta(days=30)
    await s.append(numbered("gone", 0, 20), now=T0)  # indexed
    await s.append(numbered("kept", 0, 3), now=now)  # not yet indexed
    await s.prune(now=now)
    assert await s.read_sql("SELECT resource_id FROM event_resources") == [("kept",)]
    assert await by_resource(s, "kept") == [0, 1, 2]


PREVIOUS_SCHEMA = """
CREATE TABLE event_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE event_resources (id INTEGER PRIMARY KEY, resource_id TEXT NOT NULL UNIQUE);
CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    occurred INTEGER NOT NULL, received INTEGER NOT NULL, name INTEGER NOT NULL,
    resource INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX events_occurred ON events (occurred);
CREATE INDEX events_name_occurred ON events (name, occurred);
CREATE INDEX events_resource_occurred ON events (resource, occurred);
"""


async def test_a_database_of_the_previous_schema_opens_with_its_events(tmp_path):
    path = tmp_path / "tocsin.db"
    with sqlite3.connect(path) as old:
        old.executescript(PREVIOUS_SCHEMA)
        old.executemany("INSERT INTO event_names VALUES (?, ?)", [(1, "a"), (2, "b")])
        old.executemany("INSERT INTO event_resources VALUES (?, ?)", [(1, "r1"), (2, "r2")])
        for seq, (name, res) in enumerate([(1, 1), (2, 2), (1, 2)], start=5):
            e = Event(event="ab"[name - 1], resource={"prefect.resource.id": f"r{res}"},
                      occurred=T0 + timedelta(seconds=seq), received=T0)
            old.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (seq, str(e.id), seq, seq, name, res, msgspec.json.encode(e)))
    s = EventStore(path)
    await s.open()
    try:
        await check_moved(s)
    finally:
        await s.close()


async def check_moved(s: EventStore) -> None:
    assert await s.count() == 3
    found, _ = await s.query(EventFilter(resource={"prefect.resource.id": "r2"}, order="oldest"))
    assert [e.event for e in found] == ["b", "a"]
    indexed = await s.read_sql("SELECT seq FROM event_resource_index ORDER BY seq")
    assert indexed == [(5,), (6,), (7,)]
    assert await s.read_sql("SELECT name FROM sqlite_master WHERE name = ?",
                            [resource_index.OLD_INDEX]) == []
    await s.append([make("c", "r2", T0)])
    found, _ = await s.query(EventFilter(resource={"prefect.resource.id": "r2"}))
    assert len(found) == 3


def plans(conn: sqlite3.Connection, sql: str, params: list[object]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


FILTERS = [
    EventFilter(),
    EventFilter(names=["a"]),
    EventFilter(names=["a.*", "b"]),
    EventFilter(resource={"prefect.resource.id": "r"}),
    EventFilter(resource={"prefect.resource.id": ["r.*", "s"]}),
    EventFilter(resource={"prefect.resource.id": "r"}, names=["a"], since=T0),
    EventFilter(since=T0, until=T0 + timedelta(days=1)),
]


@pytest.mark.parametrize("f", FILTERS, ids=repr)
def test_every_filter_query_searches_an_index(f):
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    compiled = f.compile()
    sql = (f"SELECT seq, occurred, data FROM events WHERE {compiled.where} "
           "AND (occurred, seq) < (?, ?) ORDER BY occurred DESC, seq DESC LIMIT ?")
    steps = plans(conn, sql, [*compiled.params, 1, 1, 10])
    assert not [s for s in steps if s.startswith("SCAN") and "USING" not in s], steps
    assert not [s for s in steps if s.startswith("SCAN event_resource_index")], steps


def test_the_stores_other_statements_search_an_index():
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    statements = [
        ("SELECT data FROM events WHERE id = ?", ["x"]),  # get, dedup
        ("SELECT seq, received FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [0, 5]),  # prune
        ("DELETE FROM events WHERE seq = ?", [1]),
        ("DELETE FROM event_resource_index WHERE resource = ? AND occurred = ? AND seq = ?",
         [1, 1, 1]),  # what the trigger runs for each deleted event
        ("SELECT resource, occurred, seq FROM events WHERE seq > ? "
         "ORDER BY resource, occurred, seq", [0]),  # catch-up: a seq range, sorted
    ] + [(sql, []) for sql, _ in FORGET_UNUSED_REFS]
    for sql, params in statements:
        for step in plans(conn, sql, params):
            # a forget scans the small id table once, searching the index for each row
            assert not step.startswith("SCAN events") and not step.startswith(
                "SCAN event_resource_index"), (sql, step)
