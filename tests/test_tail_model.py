"""log-watching.md §6 case 36: a model-based test. Hypothesis runs random sequences of
WriteLine, WriteFragment, Rotate, Truncate, Delete, Read and Restart against the real tailer;
the tailer's event loop runs only inside Read and Restart, so every other step happens while
it is paused. With no truncation or deletion the stored lines must equal the written ones
exactly; with them, every stored line was written, none twice, and only lines still unread
when their file was truncated or deleted may be missing."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from test_tail_helpers import Rig, append, line


class TailerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="tailmodel", dir="/tmp"))
        self.log = self.dir / "app.log"
        self.loop = asyncio.new_event_loop()
        self.rig = Rig(self.dir, "none")
        self.loop.run_until_complete(self.rig.open())
        self.rig.spec(rotate_wait=60.0)
        self.loop.run_until_complete(self.rig.start())
        self.next = 0
        self.written: list[int] = []
        self.unread: list[int] = []  # lines in app.log written since the last Read
        self.may_miss: set[int] = set()
        self.fragment: bytes = b""
        self.rotations = 0
        self.seen_current = False  # has the tailer polled since app.log was created?

    # -- writers (the tailer is paused while these run) ------------------------------------
    def _finish_fragment(self) -> None:
        if self.fragment:
            append(self.log, self.fragment)
            self.fragment = b""

    @rule()
    def write_line(self) -> None:
        self._finish_fragment()
        append(self.log, line(self.next))
        self._wrote()

    @rule()
    def write_fragment(self) -> None:
        self._finish_fragment()
        whole = line(self.next)
        append(self.log, whole[:25])
        self.fragment = whole[25:]
        self._wrote()

    def _wrote(self) -> None:
        self.written.append(self.next)
        self.unread.append(self.next)
        self.next += 1

    @rule()
    def rotate(self) -> None:
        self._finish_fragment()
        if self.log.exists():
            self.rotations += 1
            self.log.rename(self.dir / f"app.log.{self.rotations}")
        if self.seen_current:
            self.unread.clear()  # the tailer holds the renamed file open and finishes it
        else:
            self._lose_unread()  # rotated away before the tailer ever saw it: not ours
        append(self.log, b"")
        self.seen_current = False

    @rule()
    def truncate(self) -> None:
        self._finish_fragment()
        if self.log.exists():
            os.truncate(self.log, 0)
        self._lose_unread()

    @rule()
    def delete(self) -> None:
        self._finish_fragment()
        self.log.unlink(missing_ok=True)
        self._lose_unread()
        self.seen_current = False

    def _lose_unread(self) -> None:
        self.may_miss.update(self.unread)
        self.unread.clear()

    # -- the tailer's turn -----------------------------------------------------------------
    @rule()
    def read(self) -> None:
        self.loop.run_until_complete(self.rig.settle())
        self.seen_current = self.log.exists()
        if not self.fragment:
            self.unread.clear()
        else:
            self.unread[:] = self.unread[-1:]

    @rule()
    def restart(self) -> None:
        self.loop.run_until_complete(self.rig.restart())

    @invariant()
    def nothing_doubled_nothing_invented(self) -> None:
        stored = self.loop.run_until_complete(self.rig.ns())
        assert not [n for n, c in Counter(stored).items() if c > 1], "a line was stored twice"
        assert set(stored) <= set(self.written), "a line nobody wrote was stored"

    def teardown(self) -> None:
        try:
            self._finish_fragment()
            self.loop.run_until_complete(self.rig.settle(3))
            stored = self.loop.run_until_complete(self.rig.ns())
            assert len(stored) == len(set(stored))
            must = set(self.written) - self.may_miss
            assert must <= set(stored), f"lost {sorted(must - set(stored))}"
            assert set(stored) <= set(self.written)
            if not self.may_miss:
                assert sorted(stored) == self.written
        finally:
            self.loop.run_until_complete(self.rig.close())
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)


TailerModel.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_tailer_matches_the_model = TailerModel.TestCase
