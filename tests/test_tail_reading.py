"""log-watching.md §6 cases 1-7 (basic reading) and 29-35 (discovery and misc), each run with
inotify hints, with watchfiles' poller, and with the reconcile tick alone."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from test_tail_helpers import MODES, Rig, append, line, lines


@pytest.fixture(params=list(MODES))
async def rig(request: pytest.FixtureRequest, tmp_path: Path):
    r = await Rig(tmp_path, request.param).open()
    yield r
    await r.close()


async def test_appends_are_read_once(rig: Rig) -> None:  # case 1
    log = rig.dir / "app.log"
    append(log, lines(range(3)))
    rig.spec()
    await rig.start()
    assert await rig.wait_for(3) == [0, 1, 2]
    for n in range(3, 6):
        append(log, line(n))
        await asyncio.sleep(0.01)
    assert await rig.wait_for(6) == list(range(6))
    status = rig.status()["app"]
    assert (status["lines_read"], status["events"], status["lag_bytes"]) == (6, 6, 0)


async def test_partial_line_waits_and_survives_a_restart(rig: Rig) -> None:  # case 2
    log = rig.dir / "app.log"
    whole = line(1)
    append(log, line(0) + whole[:20])
    rig.spec()
    await rig.start()
    assert await rig.wait_for(1) == [0]
    await rig.settle()
    assert await rig.ns() == [0]
    assert rig.status()["app"]["lag_bytes"] == 20
    await rig.restart()
    await rig.settle()
    assert await rig.ns() == [0]
    append(log, whole[20:])
    assert await rig.wait_for(2) == [0, 1]


async def test_blank_lines_are_skipped_and_crlf_is_accepted(rig: Rig) -> None:  # cases 3, 4
    log = rig.dir / "app.log"
    append(log, line(0) + b"\n   \n" + line(1).replace(b"\n", b"\r\n") + b"\r\n" + line(2))
    rig.spec()
    await rig.start()
    assert await rig.wait_for(3) == [0, 1, 2]
    assert rig.status()["app"]["rejected"] == 0


async def test_invalid_utf8_is_replaced_and_counted(rig: Rig) -> None:  # case 4
    log = rig.dir / "app.log"
    bad = line(0, text="cafX").replace(b"cafX", b"caf\xe9")
    assert b"\xe9" in bad
    append(log, bad + line(1))
    rig.spec()
    await rig.start()
    assert await rig.wait_for(2) == [0, 1]
    first = (await rig.events())[0]
    assert first.payload["text"] == "caf\ufffd"
    assert rig.status()["app"]["invalid_utf8"] == 1


async def test_over_long_lines_are_rejected_and_passed(rig: Rig) -> None:  # case 5
    log = rig.dir / "app.log"
    long_line = line(99, pad="x" * 500)
    append(log, line(0) + long_line + line(1))
    rig.spec(max_line_bytes=200)
    await rig.start()
    assert await rig.wait_for(2) == [0, 1]
    [rejected] = await rig.rejected()
    assert rejected.payload["lineno"] == 2
    assert rejected.payload["path"] == str(log)
    assert "over max_line_bytes (200)" in rejected.payload["reason"]
    assert rig.status()["app"]["rejected"] == 1


async def test_a_line_longer_than_a_read_is_skipped_as_it_grows(rig: Rig) -> None:  # case 5
    log = rig.dir / "app.log"
    append(log, line(0) + b"y" * (5 * 1024 * 1024))
    rig.spec(max_line_bytes=1024)
    await rig.start()
    assert await rig.wait_for(1) == [0]
    await rig.settle()
    append(log, b"y" * 1000 + b"\n" + line(1))
    assert await rig.wait_for(2) == [0, 1]
    [rejected] = await rig.rejected()
    assert f"line is {5 * 1024 * 1024 + 1000} bytes" in rejected.payload["reason"]


async def test_a_line_longer_than_one_read_but_within_the_cap_is_read(rig: Rig) -> None:
    log = rig.dir / "app.log"
    append(log, line(0, pad="z" * (1536 * 1024)) + line(1))
    rig.spec(max_line_bytes=3 * 1024 * 1024)
    await rig.start()
    assert await rig.wait_for(2) == [0, 1]
    assert len((await rig.events())[0].payload["pad"]) == 1536 * 1024


async def test_lines_split_across_read_buffers(rig: Rig) -> None:  # case 6
    log = rig.dir / "app.log"
    count = 4_500  # about 4.5 MiB: each 1 MiB read ends inside a line
    append(log, b"".join(line(n, pad="p" * 900) for n in range(count)))
    rig.spec()
    await rig.start()
    assert await rig.wait_for(count, timeout=30) == list(range(count))


async def test_invalid_json_is_recorded_and_committed_past(rig: Rig) -> None:  # case 7
    log = rig.dir / "app.log"
    append(log, line(0) + b"{not json\n" + b'{"event": "x"}\n' + line(1))
    rig.spec()
    await rig.start()
    assert await rig.wait_for(2) == [0, 1]
    rejected = await rig.rejected()
    assert [r.payload["lineno"] for r in rejected] == [2, 3]
    assert "not valid JSON" in rejected[0].payload["reason"]
    assert "resource" in rejected[1].payload["reason"]
    assert rejected[0].resource["prefect.resource.id"] == "tocsin.source.app"
    await rig.restart()
    append(log, line(2))
    assert await rig.wait_for(3) == [0, 1, 2]
    assert len(await rig.rejected()) == 2


async def test_regex_lines_render_through_the_template(rig: Rig) -> None:
    log = rig.dir / "auth.log"
    append(log, b"Failed password for root from 10.0.0.7 port 22\n"
                b"Accepted password for bob from 10.0.0.8 port 22\n"
                b"Failed password for alice from 10.0.0.9 port 22\n")
    template = ('{"event": "ssh.login.failed", "resource": {"prefect.resource.id": '
                '"host.{{ ip }}", "user": "{{ user }}"}, '
                '"payload": {"n": {{ lineno }}, "path": "{{ path }}"}}')
    rig.spec(path="auth.log", format="regex",
             pattern=r"Failed password for (?P<user>\S+) from (?P<ip>[\d.]+)", template=template)
    await rig.start()
    assert await rig.wait_for(2) == [1, 3]
    events = await rig.events()
    assert [e.resource["prefect.resource.id"] for e in events] == ["host.10.0.0.7", "host.10.0.0.9"]
    assert events[1].resource["user"] == "alice"
    assert events[0].payload["path"] == str(log)
    assert rig.status()["app"]["unmatched"] == 1


async def test_regex_template_output_that_is_no_event_is_rejected(rig: Rig) -> None:
    log = rig.dir / "app.log"
    append(log, b"a 1\nb 2\n")
    rig.spec(format="regex", pattern=r"(?P<k>\w) (?P<n>\d)",
             template='{% if k == "a" %}{"event": "x"}{% else %}{"event": "e", "resource": '
                      '{"prefect.resource.id": "r"}, "payload": {"n": {{ n }}}}{% endif %}')
    await rig.start()
    assert await rig.wait_for(1) == [2]
    [rejected] = await rig.rejected()
    assert "template output is not a valid event" in rejected.payload["reason"]


SLOW = "".join(f"{{% for {v} in range(100) %}}" for v in "abcd") + "{% endfor %}" * 4


async def test_a_slow_regex_template_is_stopped_within_its_small_time_limit(rig: Rig) -> None:
    """Issue 11: a regex source's template is rendered on the event loop, and had the 2 s
    limit of an action's render: one hostile line could stall the daemon (and /health) for 2 s.
    It gets `template_time_limit` (50 ms by default); the line is rejected and the file moves on."""
    log = rig.dir / "app.log"
    append(log, b"slow 1\nfast 2\n")
    rig.spec(format="regex", pattern=r"(?P<k>\w+) (?P<n>\d)",
             template=f'{{% if k == "slow" %}}{SLOW}{{% endif %}}{{"event": "e", "resource": '
                      '{"prefect.resource.id": "r"}, "payload": {"n": {{ n }}}}')
    stalls: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            stalls.append(time.monotonic() - last)
            last = time.monotonic()

    ticking = asyncio.create_task(ticker())
    await rig.start()
    assert await rig.wait_for(1) == [2]
    ticking.cancel()
    [rejected] = await rig.rejected()
    assert "rendering took longer than 0.05 s" in rejected.payload["reason"]
    assert max(stalls) < 1.0  # 2 s before; 50 ms plus whatever the machine's load adds


@pytest.mark.parametrize("start", ["beginning", "end"])
async def test_start_position_applies_to_files_present_at_first_start(
        rig: Rig, start: str) -> None:  # case 29
    log = rig.dir / "app.log"
    append(log, lines(range(3)) + line(3)[:10])
    rig.spec(path="*.log", start=start)
    await rig.start()
    await rig.settle()
    append(log, line(3)[10:] + line(4))
    append(rig.dir / "later.log", line(100))
    expected = [0, 1, 2, 3, 4, 100] if start == "beginning" else [3, 4, 100]
    got = await rig.wait_for(len(expected))
    assert sorted(got) == expected
    await rig.restart()  # a restart is not a first start: nothing is skipped or re-read
    append(log, line(5))
    assert sorted(await rig.wait_for(len(expected) + 1)) == sorted(expected + [5])


async def test_glob_include_exclude_and_files_appearing_later(rig: Rig) -> None:  # 30, 16
    append(rig.dir / "a.log", line(1))
    append(rig.dir / "skip.log", line(666))
    rig.spec(path="*.log", exclude=("skip.*",))
    await rig.start()
    assert await rig.wait_for(1) == [1]
    (rig.dir / "junk.txt").write_bytes(b"\x00garbage\nnot json\n")  # a bogus sibling
    append(rig.dir / "b.log", line(2))
    append(rig.dir / "skip.log", line(667))
    assert sorted(await rig.wait_for(2)) == [1, 2]
    assert await rig.rejected() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_file_is_read_once_readable(rig: Rig) -> None:  # case 31
    log = rig.dir / "app.log"
    append(log, line(0))
    log.chmod(0)
    rig.spec()
    await rig.start()
    await rig.settle()
    assert await rig.ns() == []
    assert "cannot open" in rig.status()["app"]["last_error"]
    log.chmod(0o644)
    assert await rig.wait_for(1) == [0]


async def test_a_path_that_appears_later_is_read_from_its_start(rig: Rig) -> None:  # 31
    (rig.dir / "sub").mkdir()
    rig.spec(path="sub/app.log", start="end")
    await rig.start()
    await rig.settle()
    append(rig.dir / "sub" / "app.log", lines(range(2)))
    assert await rig.wait_for(2) == [0, 1]


async def test_old_files_are_ignored_until_they_change(rig: Rig) -> None:  # case 32
    old = rig.dir / "old.log"
    append(old, line(0))
    past = time.time() - 7200
    os.utime(old, (past, past))
    append(rig.dir / "new.log", line(1))
    rig.spec(path="*.log", ignore_older=3600.0)
    await rig.start()
    assert await rig.wait_for(1) == [1]
    await rig.settle()
    assert rig.status()["app"]["files"] == 1
    append(old, line(2))
    assert sorted(await rig.wait_for(3)) == [0, 1, 2]


async def test_a_quiet_file_is_not_starved_by_a_busy_one(rig: Rig) -> None:  # case 33
    busy, quiet = rig.dir / "busy.log", rig.dir / "quiet.log"
    append(quiet, b"")
    rig.spec(path="*.log")
    await rig.start()
    await rig.settle()
    append(busy, b"".join(line(n, pad="p" * 400) for n in range(30_000)))
    append(quiet, line(-1))
    got = await rig.wait_for(30_001, timeout=60)
    assert sorted(got) == list(range(-1, 30_000))
    assert got.index(-1) < 20_000, "the quiet file waited for the busy one to be drained"


async def test_missed_hints_are_recovered_by_the_tick(rig: Rig) -> None:  # case 35
    log = rig.dir / "app.log"
    rig.spec()
    await rig.start()
    await rig.settle()
    assert rig.watcher is not None
    if rig.watcher._hint_stop is not None:  # drop inotify as an overflow would
        rig.watcher._hint_stop.set()
    append(log, lines(range(3)))
    assert await rig.wait_for(3) == [0, 1, 2]


def test_jsonl_lines_keep_their_id_and_get_one_when_missing(tmp_path: Path) -> None:
    from tocsin.sources.lines import JsonlParser

    parser = JsonlParser()
    given = parser.parse(json.dumps({"id": "0190d0f6-94f2-7f01-8a6b-6f1b1e0e5a11", "event": "e",
                                     "resource": {"prefect.resource.id": "r"}}).encode(), "p", 1)
    missing = parser.parse(b'{"event": "e", "resource": {"prefect.resource.id": "r"}}', "p", 2)
    assert str(given.id) == "0190d0f6-94f2-7f01-8a6b-6f1b1e0e5a11"  # type: ignore[union-attr]
    assert missing.id and missing.occurred  # type: ignore[union-attr]
