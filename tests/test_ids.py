"""uuid7: valid RFC 9562 v7 ids, unique and in the order they were made, on virtual time."""

from __future__ import annotations

import os
import threading
import uuid

from tocsin.ids import Uuid7Source, uuid7

MS = 1_767_225_600_000  # 2026-01-01


def _ms(u: uuid.UUID) -> int:
    return u.int >> 80


def _counter(u: uuid.UUID) -> int:
    return u.int >> 64 & 0xFFF


def test_ids_are_version_7_with_their_millisecond() -> None:
    source = Uuid7Source(lambda: MS * 1_000_000 + 999_999)
    ids = [source() for _ in range(1000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert {_ms(u) for u in ids} == {MS}
    assert len({u.int & ((1 << 62) - 1) for u in ids}) == 1000  # rand_b is random


def test_ids_in_one_millisecond_count_up_and_overflow_into_the_next() -> None:
    source = Uuid7Source(lambda: MS * 1_000_000)
    ids = [source() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == 5000
    assert _counter(ids[0]) < 0x800  # seeded with 11 random bits: room to count
    assert {_ms(u) for u in ids} <= {MS, MS + 1, MS + 2}
    assert _ms(ids[-1]) > MS  # 5,000 ids do not fit in one millisecond's counter


def test_a_new_millisecond_reseeds_the_counter() -> None:
    now = [MS * 1_000_000]
    source = Uuid7Source(lambda: now[0])
    seeds = []
    for i in range(50):
        now[0] = (MS + i) * 1_000_000
        seeds.append(_counter(source()))
    assert len(set(seeds)) > 1


def test_a_clock_that_steps_back_does_not_break_the_order() -> None:
    now = [(MS + 10) * 1_000_000]
    source = Uuid7Source(lambda: now[0])
    first = source()
    now[0] = MS * 1_000_000
    later = [source() for _ in range(100)]
    assert [first, *later] == sorted([first, *later])
    assert {_ms(u) for u in later} <= {MS + 10, MS + 11}


def test_ids_from_many_threads_are_unique() -> None:
    out: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        into.extend(uuid7() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(o,)) for o in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({u for o in out for u in o}) == 20_000
    assert all(o == sorted(o) for o in out)


def test_a_forked_child_does_not_reuse_the_parents_random_draws() -> None:
    uuid7()  # the parent now holds a batch of random draws
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, uuid7().bytes)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    os.close(read)
    parent = uuid7()
    assert child.int & ((1 << 62) - 1) != parent.int & ((1 << 62) - 1)


def test_an_id_is_an_ordinary_uuid() -> None:
    """Made without UUID's argument checks, it behaves as one parsed from its text."""
    import pickle

    made = uuid7()
    parsed = uuid.UUID(str(made))
    assert made == parsed and hash(made) == hash(parsed) and repr(made) == repr(parsed)
    assert made.is_safe == parsed.is_safe and pickle.loads(pickle.dumps(made)) == made
