"""Errors that repeat are logged once with a count, not once per event.

A disk that is full, or a client that sends the same bad request in a loop, would otherwise
write the same line (and traceback) thousands of times a second and fill the log disk too.
"""

from __future__ import annotations

import logging


class RepeatedErrors:
    """The first error of a kind is logged (with its traceback when asked); repeats of it are
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
        self._log.error("%s: %s", self._what, exc,
                        exc_info=exc if self._traceback else None)

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
