"""Errors that repeat are logged once with a count, not once per event.

A disk that is full, or a client that sends the same bad request in a loop, would otherwise
write the same line (and traceback) thousands of times a second and fill the log disk too.
"""

from __future__ import annotations

import logging

from .errors import TocsinError


class RepeatedErrors:
    """The first error of a kind is logged (with its traceback when asked, unless it is one
    of ours, whose message says it all); repeats of it are
    counted, reported at each power of ten and once more when a different one or success
    ends the run."""

    def __init__(self, log: logging.Logger, what: str, *, traceback: bool = False) -> None:
        self._log = log
        self._what = what
        self._traceback = traceback
        self._key: tuple[str, str] | None = None
        self.count = 0

    def note(self, exc: BaseException) -> None:
        key = (type(exc).__name__, str(exc))
        if key == self._key:
            self.count += 1
            if _power_of_ten(self.count):
                self._log.error("%s (%d times so far): %s", self._what, self.count, exc)
            return
        self.clear()
        self._key, self.count = key, 1
        bug = self._traceback and not isinstance(exc, TocsinError)  # ours say it all
        self._log.error("%s: %s", self._what, exc, exc_info=exc if bug else None)

    def clear(self) -> None:
        """The run of one error is over: say how long it was if it repeated."""
        if self.count > 1:
            self._log.warning("%s: the error above happened %d times in all", self._what,
                              self.count)
        self._key, self.count = None, 0


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


class RepeatFilter(logging.Filter):
    """The same idea for loggers we do not own (aiohttp's, asyncio's): a record repeated is
    let through the first time and then at each power of ten, with its count. A malformed
    request (an HTTP parse error: the client's fault) is one line, never a traceback."""

    MAX_KINDS = 1000

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        key = (record.name, str(record.msg), f"{type(exc).__name__}: {exc}" if exc else "")
        if len(self.counts) >= self.MAX_KINDS and key not in self.counts:
            self.counts.clear()
        n = self.counts[key] = self.counts.get(key, 0) + 1
        if not _power_of_ten(n):
            return False
        message = record.getMessage()
        if exc is not None and (n > 1 or _clients_fault(exc)):
            message = f"{message}: {key[2]}"
            record.exc_info = record.exc_text = None
        if n > 1:
            message += f" ({n} times so far)"
        record.msg, record.args = message, ()
        return True


def _clients_fault(exc: BaseException) -> bool:
    from aiohttp.http_exceptions import HttpProcessingError

    return isinstance(exc, (HttpProcessingError, ConnectionError))
