"""The engine's open buckets by (trigger id, bucketing key), filed per trigger.

A million windows may be open at once. One flat dict would need a (trigger id, key) tuple as
the key of each (~56 bytes apiece); filed per trigger, the bucket's own key tuple does. It
also lets the engine reach one trigger's buckets without walking everybody's.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from .state import Bucket

BucketKey = tuple[str, tuple[str, ...]]


class Buckets(MutableMapping[BucketKey, Bucket]):
    """A mapping from (trigger id, key) to Bucket."""

    def __init__(self) -> None:
        self._by_trigger: dict[str, dict[tuple[str, ...], Bucket]] = {}
        self._count = 0

    def get(self, bkey: BucketKey, default: None = None) -> Bucket | None:  # type: ignore[override]
        """The bucket or None (the engine's lookup of every event, so without exceptions)."""
        of_trigger = self._by_trigger.get(bkey[0])
        return of_trigger.get(bkey[1]) if of_trigger is not None else None

    def __getitem__(self, bkey: BucketKey) -> Bucket:
        return self._by_trigger[bkey[0]][bkey[1]]

    def __setitem__(self, bkey: BucketKey, bucket: Bucket) -> None:
        of_trigger = self._by_trigger.setdefault(bkey[0], {})
        self._count += bkey[1] not in of_trigger
        of_trigger[bkey[1]] = bucket

    def __delitem__(self, bkey: BucketKey) -> None:
        of_trigger = self._by_trigger[bkey[0]]
        del of_trigger[bkey[1]]
        self._count -= 1
        if not of_trigger:
            del self._by_trigger[bkey[0]]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[BucketKey]:
        for trigger_id, of_trigger in list(self._by_trigger.items()):
            for key in list(of_trigger):
                yield trigger_id, key

    def of_trigger(self, trigger_id: str) -> list[Bucket]:
        return list(self._by_trigger.get(trigger_id, {}).values())
