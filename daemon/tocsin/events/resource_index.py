"""Which events have a given primary resource: an index kept up in bulk, behind the inserts.

An ordinary index on (resource, occurred) made ingest slow down as the store grew (issue 13:
50k events/s empty, 15k/s at 5M stored). Each resource's new entries go at the end of its
own part of the index, so once every resource has a leaf page of its own (about 1M events
over 10,000 resources), a commit of 1,000 events dirties some 1,000 scattered index pages,
and every one is written to the WAL and copied back by the checkpoint: commit and WAL
truncation then took 4-12 times as long as on an empty store.

So the events table has no resource index. `event_resource_index` holds (resource, occurred,
seq) for every event up to `seq` = `indexed_upto` (in `store_meta`); the writer adds the
entries of newer events in one sorted INSERT once more than LAG of them wait (`catch_up`,
in the transaction of the next write, before its inserts). A catch-up dirties each touched
leaf once for many entries. A query finds the indexed events through the index and the
newer ones (at most LAG and a write's) by scanning them: they are the last rows of the
table, a seq range.
"""

from __future__ import annotations

import sqlite3

#: Events not yet in the resource index, at most (before a catch-up). Larger means fewer
#: page writes per event (10,000 resources: ~10 entries per leaf per catch-up) and a longer
#: scan of the newest events for a query by resource (100,000 rows: tens of milliseconds).
LAG = 100_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('resource_indexed_upto', 0);
CREATE TABLE IF NOT EXISTS event_resource_index (
    resource INTEGER NOT NULL,
    occurred INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (resource, occurred, seq)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS events_leave_resource_index AFTER DELETE ON events BEGIN
    DELETE FROM event_resource_index
    WHERE resource = old.resource AND occurred = old.occurred AND seq = old.seq;
END;
"""

#: The index this one replaces (schemas before issue 13's flat ingest).
OLD_INDEX = "events_resource_occurred"

_UPTO = "(SELECT value FROM store_meta WHERE key = 'resource_indexed_upto')"


def matching(resource_ids: str) -> str:
    """A WHERE term on `events`: the primary resource is one of the ids `resource_ids` (a
    subquery) selects. It names events by seq, the indexed ones through the index and the
    newer ones from the seq range past `indexed_upto`, so that SQLite looks them up by rowid
    and never scans the whole table (tests/test_store_plans.py)."""
    return (f"seq IN (SELECT seq FROM event_resource_index WHERE resource IN ({resource_ids})"
            f" UNION ALL SELECT seq FROM events WHERE seq > {_UPTO}"
            f" AND resource IN ({resource_ids}))")


#: Retention's statement for resource ids no event uses any more; run after `catch_up(...,
#: lag=0)` in the same transaction, so that every event is in the index.
FORGET_UNUSED = ("DELETE FROM event_resources WHERE NOT EXISTS "
                 "(SELECT 1 FROM event_resource_index WHERE resource = event_resources.id)")


def catch_up(conn: sqlite3.Connection, lag: int | None = None) -> None:
    """Index the events past `indexed_upto` once more than `lag` (default LAG) of them wait,
    inside the caller's transaction. If the newest events were deleted, SQLite hands their
    seqs out again, so `indexed_upto` first comes back down to the largest seq there is: the
    writer calls this before it inserts, and the events it then inserts are not yet indexed
    (a retention write calls it again after, with `lag=0`)."""
    lag = LAG if lag is None else lag
    upto = conn.execute(f"SELECT {_UPTO}").fetchone()[0]
    top = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    if top - upto <= lag and top >= upto:
        return
    if top > upto:
        conn.execute("INSERT OR IGNORE INTO event_resource_index (resource, occurred, seq) "
                     "SELECT resource, occurred, seq FROM events WHERE seq > ? "
                     "ORDER BY resource, occurred, seq", (upto,))
    conn.execute("UPDATE store_meta SET value = ? WHERE key = 'resource_indexed_upto'", (top,))


def migrate(conn: sqlite3.Connection) -> None:
    """At open, in the caller's transaction: index every event (a database of an older
    schema has none indexed yet), then drop the old per-insert index if it is there."""
    catch_up(conn, lag=0)
    conn.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
