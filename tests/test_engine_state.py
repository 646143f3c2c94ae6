"""Engine state saved as rows and restored into a fresh engine behaves as if never stopped."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_timeline import Timeline, event
from tocsin.automations import persist
from tocsin.automations.component import EngineComponent
from tocsin.automations.engine import Engine
from tocsin.events.store import EventStore


def saved_rows(engine: Engine, rows: dict) -> None:
    """Apply state_statements to an in-memory table (what SQLite does in the daemon)."""
    for sql, params in persist.state_statements(engine, None):
        for p in params:
            if sql == persist.UPSERT_STATE:
                rows[(p[0], p[1])] = p[3]
            elif sql == persist.DELETE_STATE:
                rows.pop((p[0], p[1]), None)


def fresh_timeline(tl: Timeline) -> Timeline:
    """The timeline's automations in a new engine, as after a restart, before the restore."""
    fresh = copy.copy(tl)
    fresh.engine = Engine()
    fresh.engine.restore_clock(tl.engine.now)
    for automation in tl.automations:
        fresh.engine.load(automation, tl.engine.now)
    fresh.firings = []
    return fresh


def restarted(tl: Timeline, rows: dict) -> Timeline:
    fresh = fresh_timeline(tl)
    persist.restore(fresh.engine, [(k[0], k[1], v) for k, v in rows.items()])
    return fresh


Restart = Callable[[Timeline, dict], Timeline]


@pytest.fixture(params=["rows", "sqlite"])
def restart(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Restart:
    """Restore from rows in memory, or as the daemon does: from a real SQLite file through
    the engine component's chunked reads (buckets as one array a chunk), two rows a chunk."""
    if request.param == "rows":
        return restarted
    monkeypatch.setattr(persist, "RESTORE_CHUNK", 2)

    def through_store(tl: Timeline, rows: dict) -> Timeline:
        fresh = fresh_timeline(tl)

        async def run() -> None:
            store = EventStore(tmp_path / "tocsin.db")
            await store.open([persist.SCHEMA])
            try:
                await store.run([(persist.UPSERT_STATE,
                                  [(kind, k, "", data) for (kind, k), data in rows.items()])])
                component = EngineComponent()
                component.engine = fresh.engine
                await component._restore_state(store)
            finally:
                await store.close()

        asyncio.run(run())
        return fresh
    return through_store


def test_every_kind_of_state_survives_a_restart(restart: Restart) -> None:
    tl = Timeline(
        {"expect": ["walk"], "threshold": 3, "within": 60},                      # bucket
        {"type": "sequence", "triggers": [{"expect": ["a"]}, {"expect": ["b"]}]},  # slots
        {"posture": "Proactive", "after": ["start"], "expect": ["done"],          # held
         "for_each": ["prefect.resource.id"], "within": 60},
        {"posture": "Proactive", "expect": ["beat"], "within": 30},               # open firing
        {"after": ["lead"], "expect": ["follow"], "within": 60},                 # follower
    )
    rows: dict = {}
    tl.emit("walk", 0)
    tl.emit("walk", 1)
    tl.emit("a", 2)
    tl.emit("done", 3, "job.1")
    lead = event("lead", 4, received=6)
    tl.send(event("follow", 5, follows=lead.id, received=5))
    tl.tick(30)
    assert len(tl.firings) == 1  # the quiet heartbeat window
    saved_rows(tl.engine, rows)
    assert {kind for kind, _ in rows} == {"bucket", "slots", "held", "open", "follower"}

    after = restart(tl, rows)
    after.send(lead)                       # releases the follower: fires
    after.emit("walk", 7)                  # third walk in the window: fires
    after.emit("b", 8)                     # completes the sequence: fires
    after.emit("start", 2, "job.1", received=9)  # opens a window the held `done` satisfies
    after.emit("beat", 40)                 # resolves the open firing, satisfies [30, 60)
    after.tick(62)
    states = [(f.state, next(a.name for a in tl.automations if a.id == f.automation_id))
              for f in after.firings]
    assert sorted(states) == sorted([("triggered", "a4"), ("triggered", "a0"),
                                     ("triggered", "a1"), ("resolved", "a3")])


def test_buckets_saved_as_json_objects_before_issue_13_still_restore(restart: Restart) -> None:
    """Buckets are saved as JSON arrays now; a database written before keeps object rows."""
    import msgspec

    tl = Timeline({"expect": ["walk"], "threshold": 3, "within": 60,
                   "for_each": ["prefect.resource.id"]})
    tl.emit("walk", 0, "a")
    tl.emit("walk", 1, "a")
    tl.emit("walk", 1, "b")
    tl.emit("walk", 1, "c")  # three buckets: two chunks through the store
    rows: dict = {}
    saved_rows(tl.engine, rows)
    assert all(v.startswith(b"[") for v in rows.values())
    old = {k: msgspec.json.encode(msgspec.structs.asdict(msgspec.json.decode(
        v, type=persist.Bucket))) for k, v in rows.items()}
    old[next(iter(old))] = next(iter(rows.values()))  # a database may hold both
    after = restart(tl, old)
    aid = tl.automations[0].id
    assert sorted(w.bucket.key for w in after.engine.windows(aid)) == sorted(
        w.bucket.key for w in tl.engine.windows(aid))
    after.emit("walk", 2, "a")  # the third walk for `a`: fires
    assert [f.triggering_labels for f in after.firings] == [{"prefect.resource.id": "a"}]


def test_take_changes_hands_each_changed_record_once_with_its_automation() -> None:
    from tocsin.automations.state import RecordKind

    tl = Timeline({"expect": ["walk"], "threshold": 3, "within": 60},
                  {"posture": "Proactive", "after": ["start"], "expect": ["done"], "within": 60})
    tl.engine.take_changes()
    tl.emit("walk", 0)
    tl.emit("done", 1)  # before any arming: held
    changes = {(c.kind, c.automation_id) for c in tl.engine.take_changes()}
    assert changes == {(RecordKind.BUCKET, tl.automations[0].id),
                       (RecordKind.HELD, tl.automations[1].id)}
    assert tl.engine.take_changes() == [] and not tl.engine.has_changes
    tl.engine.unload(tl.automations[0].id)
    [gone] = tl.engine.take_changes()
    assert (gone.kind, gone.record) == (RecordKind.BUCKET, None)


def test_ids_seen_before_a_restart_are_duplicates_after_it() -> None:
    tl = Timeline({"expect": ["walk"], "threshold": 1, "within": 0})
    walk = event("walk", 0)
    fresh = fresh_timeline(tl)
    fresh.engine.restore_seen([walk.id], walk.received.timestamp())
    assert fresh.send(walk) == [] and fresh.engine.has_seen(walk.id)
    assert len(tl.send(walk)) == 1
