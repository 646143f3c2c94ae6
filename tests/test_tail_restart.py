"""log-watching.md §6 cases 22-28: what a restart resumes, and what it must not re-read.
Each restart stops the watcher, drops every open descriptor and builds new sources from the
checkpoints in the SQLite file, as a daemon restart does."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_tail_helpers import MODES, Rig, append, inode, line, lines


@pytest.fixture(params=list(MODES))
async def rig(request: pytest.FixtureRequest, tmp_path: Path):
    r = await Rig(tmp_path, request.param).open()
    yield r
    await r.close()


async def test_copytruncate_while_down_reads_the_unread_tail_then_the_new_content(
        rig: Rig) -> None:  # 22
    log = await rig.tailing(3)
    await rig.stop()
    append(log, line(3))  # written while down, before logrotate copies
    shutil.copyfile(log, rig.dir / "app.log.1")
    with open(log, "r+b") as f:
        f.truncate(0)
    append(log, lines(range(10, 12)))
    await rig.start()
    assert await rig.wait_for(6) == [0, 1, 2, 3, 10, 11]


async def test_resume_from_checkpoint_then_ignore_checkpoints(rig: Rig) -> None:  # 23
    log = await rig.tailing(3)
    await rig.stop()
    append(log, lines(range(3, 5)))
    await rig.start()
    assert await rig.wait_for(5) == list(range(5))
    await rig.stop()
    await rig.store.run([("DELETE FROM tail_checkpoints", [()]),
                         ("DELETE FROM tail_sources", [()])])
    await rig.start()
    assert await rig.wait_for(10) == list(range(5)) * 2


async def test_rename_rotation_while_down(rig: Rig) -> None:  # 25
    log = await rig.tailing(2)
    await rig.stop()
    append(log, line(2))  # the rotated file's unread tail
    old = inode(log)
    log.rename(rig.dir / "app.log.1")
    append(log, lines(range(3, 5)))
    assert inode(log) != old
    await rig.start()
    assert sorted(await rig.wait_for(5)) == list(range(5))


async def test_renamed_while_down_is_not_replayed(rig: Rig) -> None:  # 26: identity has no name
    append(rig.dir / "a.log", lines(range(2)))
    rig.spec(path="*.log")
    await rig.start()
    await rig.wait_for(2)
    await rig.stop()
    (rig.dir / "a.log").rename(rig.dir / "b.log")
    append(rig.dir / "b.log", line(2))
    await rig.start()
    assert await rig.wait_for(3) == [0, 1, 2]
    assert [r[1] for r in await rig.checkpoint_rows()] == [str(rig.dir / "b.log")]


async def test_stale_checkpoint_does_not_apply_to_a_new_file(rig: Rig) -> None:  # 27
    log = await rig.tailing(3)
    await rig.stop()
    old = inode(log)
    log.unlink()
    # A new file with the same header line, longer than the old offset; ext4 usually hands
    # out the same inode again.
    append(log, line(0) + b"".join(line(n, pad="q" * 50) for n in range(10, 14)))
    await rig.start()
    got = await rig.wait_for(8)
    assert got == [0, 1, 2, 0, 10, 11, 12, 13], f"inode reused: {inode(log) == old}"


async def test_a_corrupt_checkpoint_is_dropped_not_fatal(rig: Rig) -> None:  # 28
    log = await rig.tailing(2)
    await rig.stop()
    await rig.store.run([("UPDATE tail_checkpoints SET offset = -5, marker = 'x'", [()])])
    append(log, line(2))
    await rig.start()
    # The unusable row is ignored: the file is read again from its start (at-least-once,
    # never a stuck source).
    assert await rig.wait_for(5) == [0, 1, 0, 1, 2]


async def test_an_offset_past_the_end_is_a_truncation(rig: Rig) -> None:  # 28
    await rig.tailing(2)
    await rig.stop()
    await rig.store.run([("UPDATE tail_checkpoints SET offset = offset + 1000", [()])])
    await rig.start()
    assert await rig.wait_for(4) == [0, 1, 0, 1]
    assert rig.status()["app"]["truncations"] == 1


async def test_checkpoints_of_files_gone_while_down_are_forgotten(rig: Rig) -> None:
    log = rig.dir / "app.log"
    append(log, line(0))
    rig.spec()
    await rig.start()
    await rig.wait_for(1)
    await rig.stop()
    log.unlink()
    await rig.start()
    await rig.settle()
    assert await rig.checkpoint_rows() == []


@pytest.mark.parametrize("files", [1, 2])
async def test_a_failed_commit_is_read_again_from_the_committed_offset(
        tmp_path: Path, files: int) -> None:
    """The store refuses one batch (as a full disk would) while the next is being read: that
    batch and everything after it are read again, nothing twice."""
    rig = await Rig(tmp_path, "none").open()
    calls = {"batches": 0}
    real_commit = rig._commit

    def refusing_second_batch(events, extra):
        store = real_commit(events, extra)
        if events:
            calls["batches"] += 1
            if calls["batches"] == 2:
                async def refuse() -> None:
                    raise OSError("database or disk is full (injected)")
                return refuse
        return store

    rig._commit = refusing_second_batch  # type: ignore[method-assign]
    count = 30_000  # about 3 MiB: a 1 MiB batch, then a 2 MiB one (reads grow on a backlog)
    for f in range(files):
        append(tmp_path / f"app{f}.log",
               b"".join(line(n, pad="p" * 30) for n in range(f, count, files)))
    rig.spec(path="app*.log")
    try:
        await rig.start()
        assert sorted(await rig.wait_for(count, timeout=30)) == list(range(count))
        assert "disk is full" in rig.status()["app"]["last_error"]
        assert rig.status()["app"]["lines_read"] == count
    finally:
        await rig.close()


async def test_a_failed_read_while_a_batch_is_in_flight_doubles_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error on the read after a batch was handed to the store (EIO, as a failing
    disk gives): that batch still counts, and reading resumes right after it."""
    import errno

    from tocsin.sources import tailer

    real_pread = os.pread
    reads = {"batches": 0}

    def failing_second_batch_read(fd: int, size: int, offset: int) -> bytes:
        if size >= tailer.READ_BYTES:
            reads["batches"] += 1
            if reads["batches"] == 2:
                raise OSError(errno.EIO, "Input/output error (injected)")
        return real_pread(fd, size, offset)

    monkeypatch.setattr(tailer.os, "pread", failing_second_batch_read)
    rig = await Rig(tmp_path, "none").open()
    count = 30_000
    append(tmp_path / "app.log", b"".join(line(n, pad="p" * 30) for n in range(count)))
    rig.spec()
    try:
        await rig.start()
        assert await rig.wait_for(count, timeout=30) == list(range(count))
        assert "Input/output error" in rig.status()["app"]["last_error"]
    finally:
        await rig.close()
