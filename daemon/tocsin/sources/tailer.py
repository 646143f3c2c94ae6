"""Following the files of one `[[watch]]` source (log-watching.md §7).

Stat is the truth: each `poll()` finds the files the path or glob names, tells them apart by
device, inode, head fingerprint and the bytes before the offset (identity.py), reads complete
lines from every open descriptor and commits the events with the new offset in one
transaction (`commit(events, extra)`). Nothing here depends on inotify: the watcher calls
`poll()` when inotify hints at a change and on a tick, and the result is the same.
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import WatchConfig
from ..errors import RowsRefused
from ..events.model import Event
from ..events.store import Statements
from . import checkpoints as cps
from .filesafety import refusal, refused_event, tree_root
from .identity import (
    MARKER_BYTES,
    end_of_last_line,
    find_copy,
    find_inode,
    head_of,
    marker_at,
)
from .lines import EXCERPT_CHARS, JsonlParser, Parser, RegexParser, Rejected, rejected_event

log = logging.getLogger("tocsin.tail")

READ_BYTES = 1024 * 1024
#: While a file has a backlog (a read came back full), reads grow up to this: fewer, larger
#: transactions, which SQLite writes much faster (each commit rewrites the index pages it
#: touched), at the cost of more events held in memory at once.
BACKLOG_READ_BYTES = 4 * 1024 * 1024
MAX_GAP_BYTES = 64 * 1024 * 1024
ROUND_SECONDS = 0.1

#: Prepares a batch (events and the statements to commit with them); awaiting the function
#: it returns stores it. Preparing is done while the previous batch is still committing.
Commit = Callable[[list[Event], Statements], Callable[[], Awaitable[Any]]]
ReadSql = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


@dataclass(frozen=True)
class SourceSpec:
    """What a `[[watch]]` table asks for, in the form the tailer uses."""

    name: str
    path: str
    format: str = "jsonl"
    start: str = "end"
    pattern: str | None = None
    template: str | None = None
    template_time_limit: float = 0.05
    exclude: tuple[str, ...] = ()
    max_line_bytes: int = 1024 * 1024
    ignore_older: float | None = None
    rotate_wait: float = 5.0
    follow_symlinks: bool = False

    @classmethod
    def from_config(cls, w: WatchConfig, base: str | None = None) -> SourceSpec:
        """Relative paths are taken from `base`, the directory of the config file."""

        def absolute(p: str) -> str:
            return os.path.abspath(os.path.join(base or os.getcwd(), os.path.expanduser(p)))

        return cls(
            name=w.name or w.path, path=absolute(w.path), format=w.format, start=w.start,
            pattern=w.pattern, template=w.template, template_time_limit=w.template_time_limit,
            exclude=tuple(absolute(e) if "/" in e else e for e in w.exclude),
            max_line_bytes=w.max_line_bytes,
            ignore_older=w.ignore_older,
            rotate_wait=w.rotate_wait,
            follow_symlinks=w.follow_symlinks,
        )

    def parser(self) -> Parser:
        if self.format == "regex":
            assert self.pattern is not None and self.template is not None
            return RegexParser(self.pattern, self.template, self.template_time_limit)
        return JsonlParser()


@dataclass
class Read:
    """Lines read past a file's offset, not yet committed."""

    events: list[Event]
    offset: int
    lineno: int
    marker: bytes
    lines: int
    rejected: int


@dataclass
class TrackedFile:
    """One open file: where it is, who it is, and how far it has been committed."""

    path: str
    fd: int
    dev: int
    ino: int
    offset: int = 0
    lineno: int = 0
    head: bytes | None = None
    marker: bytes = b""
    #: While skipping an over-long line: how far we have looked without finding its end.
    scan: int = 0
    rotated_since: float | None = None
    last_change: float = 0.0
    #: how much the next read asks for (grows while the file has a backlog)
    read_bytes: int = READ_BYTES

    #: Below this offset lines are read and committed one at a time: a batch the store
    #: refused is gone through again to find the line it cannot keep (and reject only that).
    single_until: int = 0
    #: (offset, lineno, marker, head) as last committed; the fields above run ahead of it
    #: while a batch is being committed and fall back to it if that commit fails.
    committed: tuple[int, int, bytes, bytes | None] = (0, 0, b"", None)

    @property
    def key(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def checkpoint(self) -> cps.Checkpoint:
        return cps.Checkpoint(self.dev, self.ino, self.path, self.head, self.offset,
                              self.marker, self.lineno)

    def place(self, offset: int, lineno: int, marker: bytes, head: bytes | None,
              *, committed: bool) -> None:
        self.offset, self.lineno, self.marker, self.head = offset, lineno, marker, head
        self.scan = 0
        if committed:
            self.committed = (offset, lineno, marker, head)

    def rewind(self) -> None:
        self.place(*self.committed, committed=False)


@dataclass
class InFlight:
    """A batch handed to the store and not yet acknowledged."""

    tf: TrackedFile
    read: Read
    checkpoint: cps.Checkpoint
    task: asyncio.Future[Any]


TRUNCATED = object()


@dataclass
class Counters:
    lines_read: int = 0
    events: int = 0
    rejected: int = 0
    truncations: int = 0
    rotations: int = 0
    last_error: str | None = None

    def add(self, lines: int, rejected: int, events: int) -> None:
        """Count committed lines; `events` includes the rejection events."""
        self.lines_read += lines
        self.rejected += rejected
        self.events += events - rejected


def _too_long(length: int, limit: int) -> str:
    return f"line is {length} bytes, over max_line_bytes ({limit}); skipped"


class TailSource:
    """The files of one source. `poll()` does all the work; call it as often as you like."""

    def __init__(self, spec: SourceSpec, commit: Commit, read_sql: ReadSql,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.parser = spec.parser()
        self._commit = commit
        self._read_sql = read_sql
        self._clock = clock
        self.files: dict[tuple[int, int], TrackedFile] = {}
        self.counters = Counters()
        self._started = False
        self._first_run = False
        self._checkpoints: dict[tuple[int, int], cps.Checkpoint] = {}
        self._read_size = max(READ_BYTES, spec.max_line_bytes + 1)
        self._inflight: InFlight | None = None
        self._refused: dict[str, str] = {}  # path -> why, as last reported
        self._unreported: list[Event] = []

    # -- the watcher's view ----------------------------------------------------------------
    def dirs(self) -> set[str]:
        """Existing directories whose changes may concern this source (inotify hints)."""
        out = {os.path.dirname(tf.path) for tf in self.files.values()}
        out.add(tree_root(self.spec.path))
        return {d for d in out if os.path.isdir(d)}

    def wants(self, path: str) -> bool:
        """Whether a change to `path` is worth a poll (watchfiles filter)."""
        return fnmatch.fnmatch(path, self.spec.path) or any(
            tf.path == path for tf in self.files.values())

    def status(self) -> dict[str, Any]:
        lag = 0
        for tf in self.files.values():
            try:
                lag += max(0, os.fstat(tf.fd).st_size - tf.offset)
            except OSError:
                pass
        c = self.counters
        out: dict[str, Any] = {
            "files": len(self.files), "lines_read": c.lines_read, "events": c.events,
            "rejected": c.rejected, "unmatched": self.parser.counters.unmatched,
            "invalid_utf8": self.parser.counters.invalid_utf8, "lag_bytes": lag,
            "rotations": c.rotations, "truncations": c.truncations,
        }
        if c.last_error:
            out["last_error"] = c.last_error
        return out

    async def settle(self) -> None:
        """Wait for the batch still in flight from a poll that ran out of time."""
        await self._flush()

    def close(self) -> None:
        for tf in self.files.values():
            os.close(tf.fd)
        self.files.clear()

    # -- one wake --------------------------------------------------------------------------
    async def poll(self) -> bool:
        """Look at every file once and read what is there; True if a file has more to read."""
        if not self._started:
            await self._first_poll()
        now = self._clock()
        found = self._discover()
        await self._report_refused()
        for key, tf in self.files.items():
            hit = found.get(key)
            if hit is not None:
                tf.path = hit[0]
                tf.rotated_since = None
            elif tf.rotated_since is None:
                tf.rotated_since = now
                self.counters.rotations += 1
        opened = [self._open(path, initial=False, expected=key)
                  for key, (path, _st) in found.items() if key not in self.files]
        await self._record_new([tf for tf in opened if tf is not None])
        more = await self._drain_round()
        await self._retire_finished(self._clock())
        return more

    async def _first_poll(self) -> None:
        """Load checkpoints; place each file (resume, end, or 0); finish files renamed while
        we were down; forget checkpoints of files that are gone."""
        rows = await self._read_sql(cps.SELECT, [self.spec.name])
        for row in rows:
            cp = cps.from_row(tuple(row))
            if cp is not None:
                self._checkpoints[cp.key] = cp
        self._first_run = not await self._read_sql(cps.SOURCE_SEEN, [self.spec.name])
        statements: Statements = []
        for key, (path, _st) in self._discover().items():
            tf = self._open(path, initial=True, expected=key)
            if tf is not None:
                statements.append(tf.checkpoint().upsert(self.spec.name))
        now = self._clock()
        for cp in list(self._checkpoints.values()):
            moved = find_inode(os.path.dirname(cp.path), cp.key)
            if moved is None:
                self._checkpoints.pop(cp.key, None)
                statements.append((cps.DELETE, [[self.spec.name, cp.dev, cp.ino]]))
            elif (tf := self._open(moved, initial=True)) is not None:
                tf.rotated_since = now  # renamed away while we were down: finish it
            # else: there but unreadable for now; the checkpoint waits for it
        statements.append((cps.MARK_SOURCE, [[self.spec.name, time.time()]]))
        await self._commit([], statements)()
        self._started = True

    async def _record_new(self, opened: list[TrackedFile]) -> None:
        """Checkpoint a file as soon as we open it, even at offset 0: were it renamed away
        while we are down, the checkpoint is how the restart finds and finishes it."""
        if opened:
            await self._commit([], [tf.checkpoint().upsert(self.spec.name) for tf in opened])()

    def _discover(self) -> dict[tuple[int, int], tuple[str, os.stat_result]]:
        spec = self.spec
        paths = (sorted(glob.glob(spec.path, recursive=True)) if glob.has_magic(spec.path)
                 else [spec.path])
        found: dict[tuple[int, int], tuple[str, os.stat_result]] = {}
        for path in paths:
            if any(fnmatch.fnmatch(path if "/" in ex else os.path.basename(path), ex)
                   for ex in spec.exclude):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            if key not in self.files and not self._safe(path):  # an open file was vetted
                continue
            if (key not in self.files and spec.ignore_older is not None
                    and time.time() - st.st_mtime > spec.ignore_older):
                continue
            found.setdefault(key, (path, st))
        return found

    def _safe(self, path: str) -> bool:
        """Whether `path` may be read (filesafety's rules); a refusal is reported once per
        path and reason, as the source's last error and a `file-refused` event."""
        reason = refusal(path, tree_root(self.spec.path),
                         follow_symlinks=self.spec.follow_symlinks)
        if reason is None:
            self._refused.pop(path, None)
            return True
        if self._refused.get(path) != reason:
            self._refused[path] = reason
            self._note_error(f"refused {path}: {reason}")
            self._unreported.append(refused_event(self.spec.name, path, reason))
        return False

    async def _report_refused(self) -> None:
        if self._unreported:
            events, self._unreported = self._unreported, []
            await self._commit(events, [])()

    def _open(self, path: str, *, initial: bool,
              expected: tuple[int, int] | None = None) -> TrackedFile | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._note_error(f"cannot open {path}: {exc.strerror}; will retry")
            return None
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        # renamed between the stat and the open: already ours; or replaced since it was
        # found safe (a swapped-in symlink): not the file we vetted, look again next poll
        if key in self.files or (expected is not None and key != expected):
            os.close(fd)
            return None
        tf = TrackedFile(path, fd, *key, last_change=self._clock())
        cp = self._checkpoints.pop(key, None)
        if cp is not None:
            tf.place(cp.offset, cp.lineno, cp.marker, cp.head, committed=True)
        elif initial and self._first_run and self.spec.start == "end":
            offset, lineno = end_of_last_line(fd, st.st_size)
            tf.place(offset, lineno, marker_at(fd, offset), head_of(fd), committed=True)
        self.files[key] = tf
        return tf

    # -- reading ---------------------------------------------------------------------------
    async def _drain_round(self) -> bool:
        """Read each file a batch at a time, round-robin, so a busy file cannot starve a quiet
        one; stop after ROUND_SECONDS and say whether anything is left (and then leave the
        last batch committing: `settle` waits for it)."""
        deadline = self._clock() + ROUND_SECONDS
        active = list(self.files.values())
        while active:
            active = [tf for tf in active if await self._step(tf)]
            if active and self._clock() > deadline:
                return True  # the last batch stays in flight: the next poll parses beside it
        await self._flush()
        return False

    async def _step(self, tf: TrackedFile, final: bool = False) -> bool:
        """Read one batch and hand it to the store; True if it made progress.

        The batch is parsed and prepared while the previous one commits (one commit in
        flight), and it is only handed over once the previous commit succeeded: after a
        failed commit nothing later is committed, and the files fall back to their
        committed offsets.
        """
        try:
            got = self._read(tf, final)
            if got is TRUNCATED:
                await self._flush()
                await self._restart_truncated(tf)
                return True
            if got is None:
                return False
            assert isinstance(got, Read)
        except Exception as exc:  # a failed read is retried on the next poll
            log.exception("source %s: reading %s failed", self.spec.name, tf.path)
            self._note_error(f"reading {tf.path} failed: {exc}; will retry")
            await self._flush()  # first settle the batch in flight: it may be this file's
            tf.rewind()
            return False
        cp = cps.Checkpoint(tf.dev, tf.ino, tf.path, tf.head or head_of(tf.fd), got.offset,
                            got.marker, got.lineno)
        store = self._commit(got.events, [cp.upsert(self.spec.name)])
        if not await self._flush():
            tf.rewind()
            return False
        task = asyncio.ensure_future(store())
        self._inflight = InFlight(tf, got, cp, task)
        tf.place(cp.offset, cp.lineno, cp.marker, cp.head, committed=False)
        tf.last_change = self._clock()
        await asyncio.sleep(0)  # the commit task queues the batch before we parse the next
        return True

    async def _flush(self) -> bool:
        """Wait for the batch in flight; False (and its file rewound) if its commit failed."""
        pending, self._inflight = self._inflight, None
        if pending is None:
            return True
        try:
            await pending.task
        except RowsRefused as exc:
            if not await self._reject_refused(pending, exc):
                pending.tf.rewind()
                return False
        except Exception as exc:  # noqa: BLE001 - read again next poll
            self._note_error(f"committing lines of {pending.tf.path} failed: {exc}; will retry")
            pending.tf.rewind()
            return False
        cp, got = pending.checkpoint, pending.read
        pending.tf.committed = (cp.offset, cp.lineno, cp.marker, cp.head)
        self.counters.add(got.lines, got.rejected, len(got.events))
        return True

    async def _reject_refused(self, pending: InFlight, exc: RowsRefused) -> bool:
        """The store refused a batch's rows. A batch of several lines is read again one line
        at a time (False: not committed); a single line is recorded as rejected instead, with
        the checkpoint past it, so the file moves on (True: committed)."""
        tf, cp, got = pending.tf, pending.checkpoint, pending.read
        start = tf.committed[0]
        if got.lines > 1:
            tf.single_until = cp.offset
            self._note_error(f"the store refused lines of {tf.path} ({exc}); "
                             "reading them one at a time")
            return False
        line = os.pread(tf.fd, EXCERPT_CHARS, start)
        event = rejected_event(self.spec.name, tf.path, cp.lineno, start, str(exc), line)
        try:
            await self._commit([event], [cp.upsert(self.spec.name)])()
        except Exception as again:  # noqa: BLE001 - read again next poll
            self._note_error(f"recording a refused line of {tf.path} failed: {again}")
            return False
        pending.read = Read([event], got.offset, got.lineno, got.marker, got.lines, 1)
        return True

    def _read(self, tf: TrackedFile, final: bool) -> Read | object | None:
        if tf.head is not None and tf.offset and head_of(tf.fd) != tf.head:
            return TRUNCATED
        if tf.scan:
            return self._skip_long_line(tf, final)
        m = len(tf.marker)
        size = tf.read_bytes
        data = os.pread(tf.fd, size + m, tf.offset - m)
        if data[:m] != tf.marker:
            return TRUNCATED
        data = data[m:]
        if not data:
            return None
        end = data.rfind(b"\n") + 1
        tf.read_bytes = min(2 * size, BACKLOG_READ_BYTES) if len(data) == size else READ_BYTES
        if end == 0 and len(data) == size and self._read_size > size:
            data = os.pread(tf.fd, self._read_size, tf.offset)  # one line longer than a read
            end = data.rfind(b"\n") + 1
        if end == 0:
            if len(data) > self.spec.max_line_bytes:
                tf.scan = tf.offset + len(data)
                return self._skip_long_line(tf, final)
            if not final:
                return None  # a last line without its newline yet: wait for it
            end = len(data)
        if tf.single_until > tf.offset:
            end = min(end, data.find(b"\n") + 1 or end)
        chunk = data[:end] if end < len(data) else data
        events, lineno, rejected, lines = self._parse(chunk, tf.path, tf.lineno, tf.offset)
        marker = (chunk if len(chunk) >= MARKER_BYTES else tf.marker + chunk)[-MARKER_BYTES:]
        return Read(events, tf.offset + len(chunk), lineno, marker, lines, rejected)

    def _skip_long_line(self, tf: TrackedFile, final: bool) -> Read | object | None:
        """Look for the end of a line longer than `max_line_bytes`, then reject it whole."""
        if marker_at(tf.fd, tf.offset) != tf.marker:
            return TRUNCATED
        data = os.pread(tf.fd, self._read_size, tf.scan)
        nl = data.find(b"\n")
        if nl < 0 and not (final and data == b""):
            tf.scan += len(data)
            return None
        end = tf.scan + nl + 1 if nl >= 0 else tf.scan
        length = end - tf.offset - (1 if nl >= 0 else 0)
        reason = _too_long(length, self.spec.max_line_bytes)
        event = rejected_event(self.spec.name, tf.path, tf.lineno + 1, tf.offset, reason,
                               os.pread(tf.fd, 200, tf.offset))
        return Read([event], end, tf.lineno + 1, marker_at(tf.fd, end), 1, 1)

    def _parse(self, chunk: bytes, path: str, lineno: int,
               offset: int) -> tuple[list[Event], int, int, int]:
        """Events from complete lines; bad lines become rejection events, never errors."""
        lines = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            lines.pop()
        limit = self.spec.max_line_bytes
        if len(chunk) <= limit or max(map(len, lines)) <= limit:
            clean = self.parser.parse_all(lines)
            if clean is not None:
                return clean, lineno + len(lines), 0, len(lines)
        events: list[Event] = []
        rejected = 0
        parse = self.parser.parse
        for raw in lines:
            lineno += 1
            line = raw
            if line[-1:] == b"\r":
                line = line[:-1]
            if line[:1] == b"\0":  # a writer's hole left by a truncation
                line = line.lstrip(b"\0")
            if not line or line.isspace():
                result: Event | Rejected | None = None
            elif len(line) > limit:
                result = Rejected(_too_long(len(line), limit))
            else:
                try:
                    result = parse(line, path, lineno)
                except Exception as exc:  # noqa: BLE001 - never block the file
                    result = Rejected(f"could not parse: {type(exc).__name__}: {exc}")
            if isinstance(result, Event):
                events.append(result)
            elif isinstance(result, Rejected):
                rejected += 1
                events.append(rejected_event(self.spec.name, path, lineno, offset,
                                             result.reason, line))
            offset += len(raw) + 1
        return events, lineno, rejected, len(lines)

    # -- truncation and rotation -----------------------------------------------------------
    async def _restart_truncated(self, tf: TrackedFile) -> None:
        """The file shrank or was rewritten under our offset: recover the unread tail from the
        copy copytruncate made (if one is beside it), then read the file again from 0."""
        self.counters.truncations += 1
        events: list[Event] = []
        lines = rejected = 0
        if tf.head is not None and tf.offset:
            copy = find_copy(os.path.dirname(tf.path), tf.head, tf.offset, tf.marker, tf.key)
            if copy is not None:
                events, rejected, lines = self._read_gap(copy, tf)
        reset = cps.Checkpoint(tf.dev, tf.ino, tf.path, None, 0, b"", 0)
        await self._commit(events, [reset.upsert(self.spec.name)])()
        tf.place(0, 0, b"", None, committed=True)
        self.counters.add(lines, rejected, len(events))
        log.info("source %s: %s was truncated or rewritten; reading it again from the start"
                 "%s", self.spec.name, tf.path, f" (recovered {lines} lines)" if lines else "")

    def _read_gap(self, copy: str, tf: TrackedFile) -> tuple[list[Event], int, int]:
        fd = os.open(copy, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, min(size - tf.offset, MAX_GAP_BYTES), tf.offset)
        finally:
            os.close(fd)
        events, _, rejected, lines = self._parse(data, copy, tf.lineno, tf.offset)
        return events, rejected, lines

    async def _retire_finished(self, now: float) -> None:
        """Close files that are deleted, or rotated away and quiet for `rotate_wait` — only
        once everything in them is committed (a last line without newline included)."""
        for tf in list(self.files.values()):
            try:
                st = os.fstat(tf.fd)
            except OSError:
                continue
            quiet = (tf.rotated_since is not None
                     and now - max(tf.rotated_since, tf.last_change) >= self.spec.rotate_wait)
            if st.st_nlink and not quiet:
                continue
            while await self._step(tf, final=True):
                pass
            if not await self._flush() or tf.offset < os.fstat(tf.fd).st_size:
                continue  # a commit failed; keep it and try again
            await self._commit([], [(cps.DELETE, [[self.spec.name, tf.dev, tf.ino]])])()
            os.close(tf.fd)
            del self.files[tf.key]

    def _note_error(self, message: str) -> None:
        if self.counters.last_error != message:
            log.warning("source %s: %s", self.spec.name, message)
        self.counters.last_error = message
