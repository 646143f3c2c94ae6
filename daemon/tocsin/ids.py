"""Event and firing ids. Standard library only: emitters import it."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

#: Random draws fetched from the OS at once. os.urandom is a system call that releases the
#: GIL: made once per id (a tailer makes one per line) it handed the GIL to the store's
#: writer thread every time and was the largest cost of an id (issue 13).
RANDOM_BATCH = 256
_RANDOM_BYTES = 10  # 11 bits to seed a millisecond's counter, 62 for rand_b
_COUNTER_MAX = 0xFFF
_VERSION_AND_VARIANT = 0x7 << 76 | 0b10 << 62
_RAND_B = (1 << 62) - 1


class Uuid7Source:
    """Monotonic uuid7s (RFC 9562, section 6.2, method 1): rand_a is a 12-bit counter,
    seeded with 11 random bits at each new millisecond and counted up within it; when it
    runs out, or the clock steps back, the timestamp moves on from the last one used. So the
    ids one source makes sort in the order they were made. rand_b is random."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0
        self._random: list[int] = []

    def forget(self) -> None:
        """In a forked child: never reuse the parent's random draws (nor its lock's state)."""
        self.__init__(self._clock_ns)  # type: ignore[misc]

    def _refill(self) -> list[int]:
        data = os.urandom(_RANDOM_BYTES * RANDOM_BATCH)
        self._random = [int.from_bytes(data[i:i + _RANDOM_BYTES], "big")
                        for i in range(0, len(data), _RANDOM_BYTES)]
        return self._random

    def __call__(self) -> uuid.UUID:
        ms = self._clock_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF
        with self._lock:
            rand = (self._random or self._refill()).pop()
            if ms > self._ms:
                counter = rand >> 69
            elif self._counter < _COUNTER_MAX:
                ms, counter = self._ms, self._counter + 1
            else:
                ms, counter = self._ms + 1, 0
            self._ms, self._counter = ms, counter
        return _uuid_from_int(ms << 80 | counter << 64 | _VERSION_AND_VARIANT | rand & _RAND_B)


_new, _set, _UUID, _UNKNOWN = object.__new__, object.__setattr__, uuid.UUID, uuid.SafeUUID.unknown


def _uuid_from_int(value: int) -> uuid.UUID:
    """`uuid.UUID(int=value)` without its argument checks, which cost as much as the rest of
    an id (0.6 of 1.6 us): what Python 3.14's `UUID._from_int` does, for a value known to fit."""
    made = _new(_UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made


_source = Uuid7Source()
os.register_at_fork(after_in_child=_source.forget)

#: A time-ordered UUID (RFC 9562 v7), as Prefect uses for event ids; each one this process
#: makes sorts after the one before. (The source itself: no wrapper call per id.)
uuid7: Callable[[], uuid.UUID] = _source
