"""One daemon per home (the flock), the socket file only removed by its owner and bound again
when deleted, and a private home: real daemons on temp homes and sockets."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_proc import DaemonProcess, health_within
from tocsin import emit_event
from tocsin.client.sync import SyncClient
from tocsin.errors import HomeInUse
from tocsin.server.ownership import HomeLock, identity, remove_if_ours

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


class FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.on_sleep: list = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for hook in self.on_sleep:
            hook(self.now)


def _held_by(home: Path, state: str) -> int:
    """Hold `home`'s lock from another open file, saying `state`, as another daemon would."""
    fd = os.open(home / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, f"4242\n/run/other.sock\n{state}\n".encode(), 0)
    return fd


def test_home_lock_waits_for_a_stopping_holder_then_takes_it(tmp_path, caplog):
    caplog.set_level("INFO")
    fd = _held_by(tmp_path, "stopping")
    t = FakeTime()
    t.on_sleep.append(lambda now: now >= 3.0 and os.close(fd) is None and t.on_sleep.clear())
    lock = HomeLock(tmp_path)
    lock.acquire(tmp_path / "s.sock", clock=lambda: t.now, sleep=t.sleep)
    assert 3.0 <= t.now < 3.1
    assert caplog.text.count("waiting (up to 30s) for the daemon pid 4242, which is stopping") == 1
    assert (tmp_path / "daemon.lock").read_text() == f"{os.getpid()}\n{tmp_path}/s.sock\nrunning\n"
    lock.release()


def test_home_lock_refuses_a_running_holder_after_the_settle_time(tmp_path):
    fd = _held_by(tmp_path, "running")
    t = FakeTime()
    with pytest.raises(HomeInUse) as err:
        HomeLock(tmp_path).acquire(tmp_path / "s.sock", clock=lambda: t.now, sleep=t.sleep)
    assert 1.0 <= t.now < 1.1
    assert err.value.exit_code == 4
    assert "pid 4242" in str(err.value) and "/run/other.sock" in str(err.value)
    os.close(fd)


def test_home_lock_gives_up_on_a_holder_stopping_too_long(tmp_path):
    fd = _held_by(tmp_path, "stopping")
    t = FakeTime()
    with pytest.raises(HomeInUse, match="still stopping after 30s"):
        HomeLock(tmp_path).acquire(tmp_path / "s.sock", clock=lambda: t.now, sleep=t.sleep)
    os.close(fd)


def test_socket_removed_only_if_still_the_one_we_bound_even_when_its_inode_is_reused(tmp_path):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as first:
        first.bind(str(path))
        ours = identity(path)
    path.unlink()
    time.sleep(0.01)
    with socket.socket(socket.AF_UNIX) as second:  # the next daemon's, at the same path
        second.bind(str(path))
        assert remove_if_ours(path, ours) is False
        assert path.exists()
        assert remove_if_ours(path, identity(path)) is True
        assert not path.exists()


def _spawn(home: Path, sock: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([*TOCSIN, "daemon", "--home", str(home), "--socket", str(sock)],
                                stdout=out, stderr=out)


def _reap(procs: list[subprocess.Popen[bytes]], d: DaemonProcess) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    d.cleanup()


def test_a_second_daemon_on_the_same_home_refuses_naming_the_first(daemon):
    began = time.monotonic()
    other = subprocess.run([*TOCSIN, "daemon", "--home", str(daemon.home),
                            "--socket", str(daemon.dir / "other.sock")],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode == 4
    assert f"pid {daemon.proc.pid}" in other.stderr and str(daemon.socket) in other.stderr
    assert "Traceback" not in other.stderr
    assert time.monotonic() - began < 10  # at once: python's start plus the 1 s settle
    assert not (daemon.dir / "other.sock").exists()
    assert daemon.client().health()["pid"] == daemon.proc.pid


def test_restart_race_kill_then_start_20_times_leaves_one_reachable_daemon(tmp_path):
    """`kill -TERM $pid; tocsin daemon &` with a client connected, 20 times: the new daemon
    waits for the old one's lock, the old one leaves the new one's socket alone."""
    d = DaemonProcess().start()
    procs: list[subprocess.Popen[bytes]] = [d.proc]
    try:
        for _ in range(20):
            old = procs[-1]
            client = SyncClient(d.socket)
            client.health()  # a kept-alive connection while the old daemon stops
            old.send_signal(signal.SIGTERM)
            procs.append(_spawn(d.home, d.socket, d.log_path))
            assert old.wait(30) == 0
            client.close()
            assert health_within(d.socket)["pid"] == procs[-1].pid, d.log()[-3000:]
            assert procs[-1].poll() is None
        assert [p.pid for p in procs if p.poll() is None] == [procs[-1].pid]
    finally:
        _reap(procs, d)


def test_daemons_started_at_once_on_one_home_leave_exactly_one(tmp_path):
    """Two `tocsin` autostarts (or a start racing `systemctl restart`) at the same moment."""
    d = DaemonProcess()
    procs = [_spawn(d.home, d.socket, d.log_path) for _ in range(2)]
    try:
        winner = health_within(d.socket)["pid"]
        codes = [p.wait(30) for p in procs if p.pid != winner]
        assert codes == [4], d.log()
        assert next(p for p in procs if p.pid == winner).poll() is None
    finally:
        _reap(procs, d)


def test_a_deleted_socket_file_is_noticed_and_bound_again(daemon):
    daemon.socket.unlink()
    assert health_within(daemon.socket, timeout=10)["pid"] == daemon.proc.pid
    assert "was deleted; bound it again" in daemon.log()
    # and a second daemon on the home still refuses: the lock, not the socket, decides
    other = subprocess.run([*TOCSIN, "daemon", "--home", str(daemon.home),
                            "--socket", str(daemon.socket)], capture_output=True, text=True,
                           timeout=30)
    assert other.returncode == 4


def _loose(path: Path) -> list[str]:
    """Every path under `path` (itself included) that others may read, write or enter."""
    out = []
    for p in [path, *path.rglob("*")]:
        st = os.lstat(p)
        if (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) and st.st_mode & 0o077:
            out.append(f"{p} {oct(stat.S_IMODE(st.st_mode))}")
    return out


def test_every_file_and_folder_in_the_home_is_private_after_a_run(daemon):
    emit_event("x", resource={"prefect.resource.id": "a"}, socket_path=daemon.socket)
    cli = [*TOCSIN, "--socket", str(daemon.socket)]
    project = Path(__file__).parent.parent / "samples" / "project" / "tocsin.yaml"
    assert subprocess.run([*cli, "deploy", "--file", str(project)], capture_output=True,
                          timeout=30).returncode == 0
    run = subprocess.run([*cli, "deployment", "run", "upstream_deployment", "-p", "batch=1",
                          "--watch"], capture_output=True, text=True, timeout=60)
    assert "Completed" in run.stdout, run.stderr
    assert list(daemon.home.rglob("*.log"))  # the run's log, spec and result are there
    assert _loose(daemon.home) == []  # the database, its WAL and SHM while running
    daemon.stop()
    # the CLI's own writes: the spool (no daemon answers)
    out = subprocess.run([*TOCSIN, "--socket", str(daemon.socket), "emit", "y",
                          "--resource", "prefect.resource.id=a"], capture_output=True, text=True,
                         env={**os.environ, "TOCSIN_HOME": str(daemon.home)}, timeout=30)
    assert out.returncode == 0, out.stderr
    assert (daemon.home / "spool" / "spool.jsonl").exists()
    assert _loose(daemon.home) == []


def test_loose_modes_in_the_home_are_tightened_at_start_with_one_log_line(make_daemon, tmp_path):
    home = tmp_path / "home"
    (home / "spool").mkdir(parents=True)
    (home / "spool" / "spool.jsonl").write_text("")
    (home / "notes.txt").write_text("x")
    os.chmod(home, 0o755)
    os.chmod(home / "spool", 0o777)
    os.chmod(home / "spool" / "spool.jsonl", 0o666)
    os.chmod(home / "notes.txt", 0o644)
    d = make_daemon(home=home).start()
    emit_event("x", resource={"prefect.resource.id": "a"}, socket_path=d.socket)
    assert _loose(home) == []
    assert d.log().count("private to this user") == 1
    assert "made 4 paths" in d.log()


async def test_autostart_whose_daemon_loses_the_home_waits_for_the_winner(monkeypatch):
    """`tocsin` (the dashboard) starts a daemon when none answers. When another daemon owns
    the home but does not answer yet (still starting), the one it started exits 4 and the
    dashboard waits for the winner instead of failing."""
    import asyncio

    from tocsin.client.aio import AsyncClient
    from tocsin_tui.autostart import start_daemon

    d = DaemonProcess()
    d.home.mkdir(parents=True)
    monkeypatch.setenv("TOCSIN_HOME", str(d.home))
    holder = _held_by(d.home, "running")  # the winner, still starting
    client = AsyncClient(str(d.socket))
    started = []

    async def winner_comes_up() -> None:
        await asyncio.sleep(2.0)  # after the autostarted daemon gave up (1 s settle)
        os.close(holder)
        started.append(await asyncio.to_thread(d.start))

    try:
        (proc, _log), _ = await asyncio.gather(start_daemon(client), winner_comes_up())
        assert proc.wait(10) == 4
        assert (await client.health())["pid"] == d.proc.pid
    finally:
        await client.close()
        _reap([], d)


def test_a_group_shared_socket_inside_the_home_leaves_the_home_passable_only(make_daemon,
                                                                            tmp_path):
    import grp

    group = grp.getgrgid(os.getegid()).gr_name
    config = tmp_path / "c.toml"
    config.write_text(f'socket_mode = "0660"\nsocket_group = "{group}"\n')
    d = make_daemon(config=config)
    d.socket = d.home / "s.sock"  # no XDG_RUNTIME_DIR: the socket lives in the home
    d.start()
    emit_event("x", resource={"prefect.resource.id": "a"}, socket_path=d.socket)
    assert stat.S_IMODE(os.stat(d.home).st_mode) == 0o710  # the group passes, cannot list
    assert stat.S_IMODE(os.stat(d.socket).st_mode) == 0o660
    assert _loose(d.home) == [f"{d.home} 0o710"]  # nothing else is the group's
