"""log-watching.md §6 cases 8-22 (rotation, truncation, copytruncate), each run with inotify
hints, with watchfiles' poller, and with the reconcile tick alone. Every rotation asserts that
the inode really changed (Vector's `file_rotate` test renamed a file onto itself)."""

from __future__ import annotations

import asyncio
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


def rotate(log: Path, to: Path) -> int:
    """Rename rotation; returns the old inode."""
    old = inode(log)
    log.rename(to)
    append(log, b"")
    assert inode(log) != old
    return old


async def test_rename_rotation_reads_late_writes_to_the_old_file(rig: Rig) -> None:  # 8
    log = await rig.tailing(2)
    with open(log, "ab") as writer:  # a writer that keeps its descriptor across the rename
        rotate(log, rig.dir / "app.log.1")
        writer.write(line(2))
        writer.flush()
        append(log, line(3))
        writer.write(line(4))
    assert sorted(await rig.wait_for(5)) == list(range(5))


async def test_several_rename_rotations_in_a_row(rig: Rig) -> None:  # 9
    log = rig.dir / "app.log"
    rig.spec()
    await rig.start()
    n = 0
    for generation in range(3):
        append(log, lines(range(n, n + 3)))
        n += 3
        await rig.wait_for(n)
        if (rig.dir / "app.log.1").exists():
            (rig.dir / "app.log.1").rename(rig.dir / "app.log.2")
        rotate(log, rig.dir / "app.log.1")
    append(log, line(n))
    assert sorted(await rig.wait_for(n + 1)) == list(range(n + 1))


async def test_several_files_rotated_at_once_under_one_glob(rig: Rig) -> None:  # 10
    names = ["a", "b", "c"]
    for i, name in enumerate(names):
        append(rig.dir / f"{name}.log", line(i))
    rig.spec(path="*.log")
    await rig.start()
    await rig.wait_for(3)
    for i, name in enumerate(names):
        with open(rig.dir / f"{name}.log", "ab") as w:
            rotate(rig.dir / f"{name}.log", rig.dir / f"{name}.log.1")
            w.write(line(10 + i))
        append(rig.dir / f"{name}.log", line(20 + i))
    assert sorted(await rig.wait_for(9)) == [0, 1, 2, 10, 11, 12, 20, 21, 22]


async def test_rotated_file_is_let_go_after_rotate_wait(rig: Rig) -> None:  # 11
    log = rig.dir / "app.log"
    append(log, line(0))
    rig.spec(rotate_wait=0.3)
    await rig.start()
    await rig.wait_for(1)
    rotate(log, rig.dir / "app.log.1")
    append(rig.dir / "app.log.1", line(1))
    assert await rig.wait_for(2) == [0, 1]
    for _ in range(100):  # rotate_wait after the last byte, then the next poll lets it go
        await asyncio.sleep(0.05)
        if rig.status()["app"]["files"] == 1:
            break
    assert rig.status()["app"]["files"] == 1
    append(rig.dir / "app.log.1", line(2))  # after the purge: not read
    append(log, line(3))
    assert await rig.wait_for(3) == [0, 1, 3]


async def test_a_rotated_file_ending_without_newline_is_finished(rig: Rig) -> None:
    log = rig.dir / "app.log"
    append(log, line(0) + line(1)[:-1])
    rig.spec(rotate_wait=0.2)
    await rig.start()
    await rig.wait_for(1)
    rotate(log, rig.dir / "app.log.1")
    assert await rig.wait_for(2) == [0, 1]


async def test_a_file_moved_into_place_is_read_from_its_start(rig: Rig) -> None:  # 12
    log = rig.dir / "app.log"
    append(log, line(0))
    rig.spec()
    await rig.start()
    await rig.wait_for(1)
    other = rig.dir / "incoming.tmp"
    append(other, lines(range(1, 4)))
    old = inode(log)
    other.rename(log)
    assert inode(log) != old
    assert await rig.wait_for(4) == [0, 1, 2, 3]


async def test_delete_then_recreate_reads_the_new_file_from_0(rig: Rig) -> None:  # 13
    log = await rig.tailing(2)
    log.unlink()
    append(log, lines(range(2, 4)))
    assert await rig.wait_for(4) == [0, 1, 2, 3]
    await rig.settle()
    assert rig.status()["app"]["files"] == 1


async def test_directory_renamed_and_recreated(rig: Rig) -> None:  # 14
    logs = rig.dir / "logs"
    logs.mkdir()
    append(logs / "app.log", line(0))
    rig.spec(path="logs/app.log")
    await rig.start()
    await rig.wait_for(1)
    logs.rename(rig.dir / "logs.old")
    logs.mkdir()
    append(logs / "app.log", line(1))
    assert await rig.wait_for(2) == [0, 1]
    append(logs / "app.log", line(2))
    assert await rig.wait_for(3) == [0, 1, 2]


async def test_symlink_whose_target_changes(rig: Rig) -> None:  # 15
    first, second = rig.dir / "a1.data", rig.dir / "a2.data"
    append(first, line(0))
    link = rig.dir / "app.log"
    link.symlink_to(first)
    rig.spec()
    await rig.start()
    await rig.wait_for(1)
    append(second, line(1))
    tmp = rig.dir / "app.log.new"
    tmp.symlink_to(second)
    tmp.rename(link)
    append(first, line(2))  # late write to the old target, within rotate_wait
    append(second, line(3))
    assert sorted(await rig.wait_for(4)) == [0, 1, 2, 3]


async def test_copytruncate_with_a_writer_that_keeps_its_descriptor(rig: Rig) -> None:  # 17
    log = rig.dir / "app.log"
    rig.spec()
    await rig.start()
    writer = open(log, "wb")  # not O_APPEND: after the truncate it writes past a hole of NULs
    try:
        writer.write(lines(range(3)))
        writer.flush()
        await rig.wait_for(3)
        shutil.copyfile(log, rig.dir / "app.log.1")
        os.truncate(log, 0)
        writer.write(lines(range(3, 5)))
        writer.flush()
        assert await rig.wait_for(5) == [0, 1, 2, 3, 4]
    finally:
        writer.close()
    assert await rig.rejected() == []


async def test_copytruncate_recovers_the_unread_tail_from_the_copy(rig: Rig) -> None:  # 18
    log = await rig.tailing(2)
    assert rig.watcher is not None
    async with rig.watcher.paused():
        append(log, lines(range(2, 5)))  # not read yet when logrotate copies and truncates
        shutil.copyfile(log, rig.dir / "app.log.1")
        os.truncate(log, 0)
        append(log, line(5))
    assert await rig.wait_for(6) == [0, 1, 2, 3, 4, 5]
    assert rig.status()["app"]["truncations"] == 1


@pytest.mark.parametrize("rewrite", ["longer", "same-first-line", "same-size"])
async def test_truncated_and_rewritten_before_we_look(rig: Rig, rewrite: str) -> None:  # 19-21
    log = rig.dir / "app.log"
    original = lines(range(4))
    append(log, original)
    rig.spec()
    await rig.start()
    await rig.wait_for(4)
    if rewrite == "longer":
        new = lines(range(10, 20))
    elif rewrite == "same-first-line":
        new = line(0) + b"".join(line(n, x="new") for n in range(11, 16))
    else:
        new = lines(range(6, 10))
        assert len(new) == len(original)
    assert rig.watcher is not None
    async with rig.watcher.paused():
        with open(log, "r+b") as f:  # in place: same inode
            f.truncate(0)
            f.write(new)
    expected = len(new.splitlines())
    got = await rig.wait_for(4 + expected)
    assert got[4:] == [int(json_n) for json_n in _ns(new)]
    assert await rig.rejected() == []


def _ns(data: bytes) -> list[int]:
    import json

    return [json.loads(x)["payload"]["n"] for x in data.splitlines()]
