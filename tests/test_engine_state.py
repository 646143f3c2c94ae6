"""Engine state saved as rows and restored into a fresh engine behaves as if never stopped."""

from __future__ import annotations

import copy

from engine_timeline import Timeline, event
from tocsin.automations import persist
from tocsin.automations.engine import Engine


def saved_rows(engine: Engine, rows: dict) -> None:
    """Apply state_statements to an in-memory table (what SQLite does in the daemon)."""
    for sql, params in persist.state_statements(engine, None):
        for p in params:
            if sql == persist.UPSERT_STATE:
                rows[(p[0], p[1])] = p[3]
            elif sql == persist.DELETE_STATE:
                rows.pop((p[0], p[1]), None)


def restarted(tl: Timeline, rows: dict) -> Timeline:
    fresh = copy.copy(tl)
    fresh.engine = Engine()
    fresh.engine.now = tl.engine.now
    for automation in tl.automations:
        fresh.engine.load(automation, tl.engine.now)
    persist.restore(fresh.engine, [(k[0], k[1], v) for k, v in rows.items()])
    fresh.firings = []
    return fresh


def test_every_kind_of_state_survives_a_restart():
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

    after = restarted(tl, rows)
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


def test_buckets_saved_as_json_objects_before_issue_13_still_restore():
    """Buckets are saved as JSON arrays now; a database written before keeps object rows."""
    import msgspec

    tl = Timeline({"expect": ["walk"], "threshold": 3, "within": 60,
                   "for_each": ["prefect.resource.id"]})
    tl.emit("walk", 0, "a")
    tl.emit("walk", 1, "a")
    tl.emit("walk", 1, "b")
    rows: dict = {}
    saved_rows(tl.engine, rows)
    assert all(v.startswith(b"[") for v in rows.values())
    old = {k: msgspec.json.encode(msgspec.structs.asdict(msgspec.json.decode(
        v, type=persist.Bucket))) for k, v in rows.items()}
    old[next(iter(old))] = next(iter(rows.values()))  # a database may hold both
    after = restarted(tl, old)
    assert sorted(after.engine.buckets) == sorted(tl.engine.buckets)
    after.emit("walk", 2, "a")  # the third walk for `a`: fires
    assert [f.triggering_labels for f in after.firings] == [{"prefect.resource.id": "a"}]
