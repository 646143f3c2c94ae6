"""Issue 11, finding 6: store faults against a real daemon — a full disk, the database
deleted or overwritten under it, a corrupt database at start, and a stop that hangs."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from daemon_proc import DaemonProcess
from disk import fill, small_tmpfs
from test_hardening import ev, post

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


@pytest.fixture
def small_disk():
    with small_tmpfs("4m") as where:
        if where is None:
            pytest.skip("mounting a small tmpfs needs root")
        yield where


def test_disk_full_is_507_with_free_space_and_path_reads_go_on_and_writes_resume(small_disk):
    d = DaemonProcess(home=small_disk / "home").start()
    try:
        filler = fill(small_disk)
        pad = "x" * 60_000
        answers = [post(d, json.dumps([ev("fill", payload={"pad": pad})]).encode())
                   for _ in range(80)]
        full = [a for status, a in answers if status == 507]
        assert full, [s for s, _ in answers]
        assert "is full" in full[0]["detail"] and str(d.home / "tocsin.db") in full[0]["detail"]
        assert "bytes free" in full[0]["detail"]
        with d.client() as c:
            assert c.filter_events(names=["fill"], limit=1)["events"] is not None  # reads
        filler.unlink()
        status, _ = post(d, json.dumps([ev("after.space")]).encode())
        assert status == 201
        log = d.log()
        assert "cannot rollback" not in log
        assert log.count("Traceback") <= 1  # the first failure, not one per request
    finally:
        d.cleanup()


@pytest.mark.parametrize("how", ["deleted", "overwritten"])
def test_a_database_gone_under_the_daemon_stops_writes_and_says_why(daemon, how):
    status, _ = post(daemon, json.dumps([ev("before")]).encode())
    assert status == 201
    db = daemon.home / "tocsin.db"
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    else:
        with open(db, "r+b") as f:
            f.write(b"garbage" * 100)
    status, answer = post(daemon, json.dumps([ev("after")]).encode())
    assert status == 503 and how in answer["detail"], answer
    health = daemon.client().health()
    assert health["status"] == "not storing events" and how in health["problem"]
    out = subprocess.run([*TOCSIN, "--socket", str(daemon.socket), "status"],
                         capture_output=True, text=True, timeout=30)
    assert "PROBLEM" in out.stdout and how in out.stdout
    assert how in daemon.log()
    assert daemon.stop() == 0


def test_a_corrupt_database_at_start_exits_78_saying_what_to_do(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "tocsin.db").write_bytes(b"this is not a database" * 1000)
    out = subprocess.run([*TOCSIN, "daemon", "--home", str(home), "--socket",
                          str(tmp_path / "s.sock")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 78, out.stderr
    assert "Move it aside" in out.stderr and "Traceback" not in out.stderr


def test_sigterm_exits_within_the_grace_whatever_the_daemon_waits_for(make_daemon, tmp_path):
    """A writer blocked on a lock held by someone else used to hold up the stop."""
    config = tmp_path / "tocsin.toml"
    config.write_text('stop_grace = "2s"\n')
    d = make_daemon(config=config).start()
    lock = sqlite3.connect(d.home / "tocsin.db", timeout=10)
    lock.execute("BEGIN EXCLUSIVE")
    def send_and_wait() -> None:
        try:
            post(d, json.dumps([ev("stuck")]).encode())
        except ConnectionError:
            pass  # the daemon went away with the request unanswered: as it should

    stuck = threading.Thread(target=send_and_wait, daemon=True)
    stuck.start()
    time.sleep(0.5)
    started = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    code = d.proc.wait(15)
    took = time.monotonic() - started
    lock.rollback()
    lock.close()
    assert took < 6, took
    assert code == 1 and "did not stop within 2 s" in d.log()
