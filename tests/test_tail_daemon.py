"""The tailer inside a real daemon: config, status counters, SIGHUP reload, and the crash test
(a writer appends 50,000 lines while the daemon is killed with kill -9 three times; at the end
the store holds each line exactly once)."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from test_tail_helpers import append, line, lines

EVENT = "test.line"


def config_for(tmp: Path, *watches: dict[str, str]) -> Path:
    path = tmp / "tocsin.toml"
    text = ""
    for w in watches:
        text += "[[watch]]\n" + "".join(f'{k} = {json.dumps(v)}\n' for k, v in w.items())
    path.write_text(text)
    return path


def stored_ns(db: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT data FROM events WHERE name = "
                            "(SELECT id FROM event_names WHERE name = ?) ORDER BY seq",
                            (EVENT,)).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0])["payload"]["n"] for r in rows]


def wait_count(db: Path, count: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            ns = stored_ns(db)
            if len(ns) >= count:
                return ns
        time.sleep(0.1)
    raise AssertionError(f"{len(stored_ns(db))} of {count} lines stored")


def watch_status(d: Any) -> dict[str, Any]:
    with d.client() as c:
        return c.health()["components"]["watch"]


def test_configured_sources_status_and_sighup_reload(make_daemon, tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    append(a, lines(range(3)) + b"not json\n")
    append(b, line(100))
    config = config_for(tmp_path, {"path": str(a), "name": "a", "start": "beginning"})
    d = make_daemon(config=config).start()
    db = d.home / "tocsin.db"
    assert wait_count(db, 3) == [0, 1, 2]
    status = watch_status(d)["a"]
    assert (status["lines_read"], status["events"], status["rejected"]) == (4, 3, 1)
    config_for(tmp_path, {"path": str(a), "name": "a", "start": "beginning"},
               {"path": str(b), "name": "b", "start": "beginning"})
    assert d.proc is not None
    d.proc.send_signal(signal.SIGHUP)
    append(a, line(3))
    assert sorted(wait_count(db, 5)) == [0, 1, 2, 3, 100]
    assert set(watch_status(d)) == {"a", "b", "spool"}
    config_for(tmp_path, {"path": str(a), "name": "a", "format": "regex", "pattern": "(",
                          "template": "{{ x"})
    d.proc.send_signal(signal.SIGHUP)  # refused: the running sources stay
    append(b, line(101))
    assert sorted(wait_count(db, 6)) == [0, 1, 2, 3, 100, 101]
    assert set(watch_status(d)) == {"a", "b", "spool"}
    assert "reload refused" in d.log() and "watch[0].pattern" in d.log()


def test_each_line_exactly_once_across_three_kill9s(make_daemon, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    config = config_for(tmp_path, {"path": str(log), "start": "beginning"})
    d = make_daemon(config=config).start()
    db = d.home / "tocsin.db"
    total = 50_000

    def writer() -> None:  # ids are left out on purpose: exactly-once must not lean on dedup
        with open(log, "ab", buffering=0) as f:
            for start in range(0, total, 250):
                f.write(lines(range(start, start + 250)))
                time.sleep(0.03)

    thread = threading.Thread(target=writer)
    thread.start()
    rng = random.Random(6)
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 1.0))
        assert thread.is_alive(), "the writer finished before this kill: slow it down"
        d.kill9()
        time.sleep(rng.uniform(0.0, 0.3))
        d.start()
    thread.join()
    ns = wait_count(db, total, timeout=60)
    time.sleep(1.0)  # more polls: a double would show now
    ns = stored_ns(db)
    assert len(ns) == total and sorted(ns) == list(range(total))
    assert watch_status(d)[str(log)]["lag_bytes"] == 0


def test_an_unknown_watch_mode_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TOCSIN_WATCH_MODE": "bogus"}
    out = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "daemon", "--home",
                          str(tmp_path / "h"), "--socket", str(tmp_path / "s")],
                         env=env, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 78 and "Traceback" not in out.stderr, out.stderr
    assert "TOCSIN_WATCH_MODE='bogus'" in out.stderr
