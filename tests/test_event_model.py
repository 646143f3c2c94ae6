"""Event validation: each kind of bad input gets a message naming the field."""

from __future__ import annotations

import json
import uuid
from datetime import UTC

import pytest
from tocsin.errors import InvalidInput
from tocsin.events.model import (SLICE_BYTES, check_size, decode_events, event_from_dict,
                                 event_slices)


def ev(**overrides):
    base = {"event": "order.created", "resource": {"prefect.resource.id": "user.1"}}
    base.update(overrides)
    return base


def decode_one(data) -> object:
    return decode_events(json.dumps(data).encode())


def error_of(data) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as info:
        decode_one(data)
    assert len(info.value.errors) == 1
    return info.value.errors[0]


def test_id_and_occurred_are_filled_in():
    (event,) = decode_one(ev())
    assert isinstance(event.id, uuid.UUID) and event.id.version == 7
    assert event.occurred.tzinfo is not None
    assert event.related == [] and event.payload == {} and event.received is None


def test_a_naive_time_is_taken_as_utc():
    (event,) = decode_one(ev(occurred="2026-01-02T03:04:05"))
    assert event.occurred.tzinfo == UTC and event.occurred.hour == 3


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        (ev(resource={"name": "x"}), "$.resource", "prefect.resource.id"),
        (ev(resource={"prefect.resource.id": ""}), "$.resource", "prefect.resource.id"),
        (ev(resource={"prefect.resource.id": "a", "n": 1}), "$.resource['n']", "Expected `str`"),
        (ev(event=""), "$.event", "must not be empty"),
        (ev(payload=[1, 2]), "$.payload", "Expected `object`"),
        (ev(related=[{"prefect.resource.id": "x"}]), "$.related[0]", "prefect.resource.role"),
        (ev(related=[{"prefect.resource.role": "tag"}]), "$.related[0]", "related[0]"),
        (ev(id="not-a-uuid"), "$.id", "UUID"),
        (ev(occurred="yesterday"), "$.occurred", "datetime"),
        ({"resource": {"prefect.resource.id": "a"}}, "$", "event"),
    ],
)
def test_bad_events_name_the_field(data, path, words):
    where, message = error_of(data)
    assert where.startswith(path)
    assert words in message


def test_in_a_batch_the_error_points_at_the_event():
    with pytest.raises(InvalidInput) as info:
        decode_one([ev(), ev(payload="x")])
    assert info.value.errors[0][0] == "$[1].payload"


def test_malformed_json_is_reported_as_such():
    with pytest.raises(InvalidInput) as info:
        decode_events(b'{"event": ')
    assert "not valid JSON" in info.value.errors[0][1]


def test_size_limit_refuses_the_whole_batch():
    events = decode_one([ev(), ev(payload={"blob": "x" * 5000})])
    with pytest.raises(InvalidInput) as info:
        check_size(events, 4096)
    where, message = info.value.errors[0]
    assert where == "$[1]" and "limit is 4096" in message


def slices_of(data, max_event_bytes: int = 1 << 20) -> list[list]:
    return list(event_slices(json.dumps(data).encode(), max_event_bytes))


def test_a_large_body_is_decoded_in_slices_with_the_same_events():
    """Issue 11: a 15 MB body decoded in one call held the event loop (and /health) for
    hundreds of milliseconds; it is cut into slices of about SLICE_BYTES of JSON."""
    batch = [ev(id=str(uuid.uuid4()), payload={"i": i, "pad": "p" * 1000})
             for i in range(2000)]  # ~2.2 MB
    body = json.dumps(batch).encode()
    slices = list(event_slices(body, 1 << 20))
    assert len(slices) == pytest.approx(len(body) / SLICE_BYTES, abs=1)
    assert [e.id for part in slices for e in part] == [e.id for e in decode_events(body)]
    assert [e.payload["i"] for part in slices for e in part] == list(range(2000))
    (one,), = slices_of(ev(event="just.one"))  # a body that is one event is one slice
    assert one.event == "just.one"


@pytest.mark.parametrize(
    ("bad", "path", "words"),
    [
        (ev(payload="x"), "$[1500].payload", "Expected `object`"),
        (ev(resource={"prefect.resource.id": "a", "n": 1}), "$[1500].resource['n']", "`str`"),
        (ev(event="a\u0000b"), "$[1500].event", "NUL"),
        (ev(payload={"blob": "x" * 5000}), "$[1500]", "limit is 4096"),
        (7, "$[1500]", "Expected `object`"),
    ],
)
def test_a_bad_event_in_a_sliced_body_is_named_by_its_place_in_the_body(bad, path, words):
    batch = [ev(payload={"pad": "p" * 1000}) for _ in range(3000)]
    batch[1500] = bad
    with pytest.raises(InvalidInput) as info:
        slices_of(batch, 4096)
    (where, message), = info.value.errors
    assert where == path and words in message


def test_a_sliced_body_that_is_not_json_or_not_a_list_is_refused_as_a_whole():
    with pytest.raises(InvalidInput) as info:
        list(event_slices(b"[" + b'{"event": "x"}, ' * 100_000, 1 << 20))
    assert info.value.errors[0][0] == "$" and "not valid JSON" in info.value.errors[0][1]
    with pytest.raises(InvalidInput) as info:
        slices_of(ev(payload={"blob": "x" * 5000}), 4096)
    assert info.value.errors[0][0] == "$" and "limit is 4096" in info.value.errors[0][1]


def test_event_from_dict_validates_too():
    with pytest.raises(InvalidInput):
        event_from_dict({"event": "x", "resource": {}})
    assert event_from_dict(ev()).resource_id == "user.1"


def test_find_resource_label_reads_first_related_in_role():
    (event,) = decode_one(ev(related=[
        {"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
        {"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag", "x": "1"},
    ]))
    assert event.find_resource_label("related:tag:prefect.resource.id") == "prefect.tag.a"
    assert event.find_resource_label("related:tag:x") is None  # no fallback to later ones
    assert event.find_resource_label("related:nobody:x") is None
    assert event.find_resource_label("prefect.resource.id") == "user.1"
