"""The Event in Prefect's JSON shape, its validation and its derived views.

Events are msgspec Structs: decoding a whole batch of JSON into validated events happens in C,
and `__post_init__` adds the rules a type cannot say (required labels, roles, limits). msgspec
reports an error raised there with the JSON path of the offending event, so the message
names the field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from ..errors import InvalidInput, InvalidJson
from ..ids import uuid7

MAX_LABELS_PER_RESOURCE = 500
MAX_RELATED_RESOURCES = 100
MAX_EVENT_NAME_LENGTH = 1024
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
#: Deepest nesting of lists and objects inside a payload. Deeper JSON is refused on the way
#: in: decoding, encoding and rendering it recurse, and would fail somewhere less clear later.
MAX_JSON_DEPTH = 64
#: JSON decoded into events in one call. A larger body is decoded in slices of about this
#: size (`event_slices`) so that its caller can let the event loop run between them: decoding
#: and validating small events costs ~10 ms per MB, and a 16 MB body in one call would hold
#: the loop, and `/health`, for a few hundred milliseconds on a busy machine.
SLICE_BYTES = 512 * 1024

Resource = dict[str, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _check_resource(resource: Resource, what: str) -> None:
    if "\0" in "".join(resource) or "\0" in "".join(resource.values()):
        label = next(k for k, v in resource.items() if "\0" in k or "\0" in v)
        raise ValueError(f"{what} label {label!r} holds a NUL character (\\u0000) in its name "
                         "or value; the store cannot keep it")
    if not resource.get("prefect.resource.id"):
        raise ValueError(f"{what} must carry a non-empty `prefect.resource.id` label")
    if len(resource) > MAX_LABELS_PER_RESOURCE:
        raise ValueError(
            f"{what} has {len(resource)} labels; at most {MAX_LABELS_PER_RESOURCE} are allowed"
        )


def too_deep(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether lists and objects inside `value` nest more than `limit` levels; one level at a
    time, so a flat payload costs one pass over its values."""
    level = [v for v in (value.values() if type(value) is dict else value)
             if type(v) is dict or type(v) is list]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [v for c in level for v in (c.values() if type(c) is dict else c)
                 if type(v) is dict or type(v) is list]
    return False


class Event(msgspec.Struct, kw_only=True):
    """One event. `id` and `occurred` default to now; the daemon stamps `received`."""

    event: str
    resource: Resource
    occurred: datetime = msgspec.field(default_factory=utcnow)
    related: list[Resource] = msgspec.field(default_factory=list)
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    id: uuid.UUID = msgspec.field(default_factory=uuid7)
    follows: uuid.UUID | None = None
    received: datetime | None = None

    def __post_init__(self) -> None:
        if not self.event:
            raise ValueError("`event` must not be empty: give the event a name")
        if len(self.event) > MAX_EVENT_NAME_LENGTH:
            raise ValueError(f"`event` is longer than {MAX_EVENT_NAME_LENGTH} characters")
        if "\0" in self.event:
            raise ValueError("`event` holds a NUL character (\\u0000); the store cannot keep it")
        if too_deep(self.payload, MAX_JSON_DEPTH - 1):
            raise ValueError(f"`payload` is nested deeper than {MAX_JSON_DEPTH} levels")
        _check_resource(self.resource, "`resource`")
        if len(self.related) > MAX_RELATED_RESOURCES:
            raise ValueError(f"`related` has more than {MAX_RELATED_RESOURCES} resources")
        for i, rel in enumerate(self.related):
            _check_resource(rel, f"`related[{i}]`")
            if not rel.get("prefect.resource.role"):
                raise ValueError(f"`related[{i}]` must carry a non-empty `prefect.resource.role`")
        if self.occurred.tzinfo is None:
            self.occurred = self.occurred.replace(tzinfo=UTC)
        if self.received is not None and self.received.tzinfo is None:
            self.received = self.received.replace(tzinfo=UTC)

    # Derived views, shared by matching, for_each and templates.
    @property
    def resource_id(self) -> str:
        return self.resource["prefect.resource.id"]

    @property
    def involved_resources(self) -> list[Resource]:
        return [self.resource, *self.related]

    def resource_in_role(self, role: str) -> Resource | None:
        for rel in self.related:
            if rel.get("prefect.resource.role") == role:
                return rel
        return None

    def resources_in_role(self, role: str) -> list[Resource]:
        return [r for r in self.related if r.get("prefect.resource.role") == role]

    def find_resource_label(self, label: str) -> str | None:
        """A label's value for `for_each`: `related:<role>:<label>` reads the first resource in
        that role; anything else (or a role nobody has) reads the primary resource."""
        if label.startswith("related:"):
            _, _, rest = label.partition(":")
            role, sep, inner = rest.partition(":")
            if sep:
                rel = self.resource_in_role(role)
                if rel is not None:
                    return rel.get(inner)
        return self.resource.get(label)


_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_batch_decoder = msgspec.json.Decoder(Event | list[Event])
_list_decoder = msgspec.json.Decoder(list[Event])
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


_FIELD_IN_MESSAGE = re.compile(r"^`([\w.\[\]]+)`")


def error_path(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(JSON path, message) of a msgspec error; the path is `$` when msgspec gives none."""
    message, _, path = str(exc).rpartition(" - at `")
    if not message:
        return "$", str(exc)
    return path.rstrip("`"), message


def invalid_input(exc: msgspec.ValidationError | msgspec.DecodeError) -> InvalidInput:
    """A msgspec error as InvalidInput with its JSON path (for any msgspec type, not only
    events); rules checked in `__post_init__` name their field at the start of the message,
    which is appended to the path msgspec knows."""
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidJson([("$", f"body is not valid JSON: {exc}")])
    path, message = error_path(exc)
    if field := _FIELD_IN_MESSAGE.match(message):
        path = f"{path}.{field.group(1)}"
    return InvalidInput([(path, message)])


_PATH_PART = re.compile(r"\.([A-Za-z_][\w]*)|\[(\d+)\]|\[\.\.\.\]")


def _name_the_label(body: bytes | str | msgspec.Raw,
                    exc: msgspec.ValidationError) -> msgspec.ValidationError:
    """msgspec writes `[...]` for "some key of this map"; find which label it was."""
    message = str(exc)
    if "[...]" not in message:
        return exc
    text, _, path = message.rpartition(" - at `")
    try:
        node: Any = msgspec.json.decode(body)
        walked = "$"
        for m in _PATH_PART.finditer(path.rstrip("`")):
            name, index = m.group(1), m.group(2)
            if name is not None:
                node, walked = node[name], f"{walked}.{name}"
            elif index is not None:
                node, walked = node[int(index)], f"{walked}[{index}]"
            else:
                key = next(k for k, v in node.items() if not isinstance(v, str))
                return msgspec.ValidationError(f"{text} - at `{walked}[{key!r}]`")
    except (msgspec.DecodeError, LookupError, TypeError, AttributeError, StopIteration,
            RecursionError):
        pass
    return exc


def too_deep_error() -> InvalidInput:
    """What JSON nested past what the decoder can follow is told (never a RecursionError)."""
    return InvalidInput([("$", f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")])


def decode_events(body: bytes) -> list[Event]:
    """One event or a list of them, validated; raises InvalidInput naming the field."""
    try:
        decoded = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise invalid_input(_name_the_label(body, exc)) from None
    except msgspec.DecodeError as exc:
        raise invalid_input(exc) from None
    except RecursionError:
        raise too_deep_error() from None
    return decoded if isinstance(decoded, list) else [decoded]


def event_slices(body: bytes, max_event_bytes: int) -> Iterator[list[Event]]:
    """`decode_events` and `check_size` for a large body, a slice of about SLICE_BYTES of
    JSON at a time; raises InvalidInput naming the field, as `decode_events` does.

    A list is first split into its items' raw JSON (a fast scan in C that checks the syntax),
    then decoded a slice of items per call; only an item large enough to be over the size
    limit is encoded to measure it (its JSON is at least half its encoded size)."""
    if not body.lstrip().startswith(b"["):  # one event: it cannot be cut
        events = decode_events(body)
        if len(body) * 2 > max_event_bytes:
            check_size(events, max_event_bytes)
        yield events
        return
    try:
        raws = _raw_list_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise invalid_input(exc) from None
    except RecursionError:
        raise too_deep_error() from None
    start = size = 0
    for end, raw in enumerate(raws, 1):
        size += len(raw)
        if size >= SLICE_BYTES or end == len(raws):
            yield _decode_slice(raws, start, end, max_event_bytes)
            start, size = end, 0


def _decode_slice(raws: list[msgspec.Raw], start: int, end: int,
                  max_event_bytes: int) -> list[Event]:
    """Items start..end of a list body, decoded in one call; an error is named by the item's
    place in the whole body, found by decoding the slice's items one by one."""
    try:
        events = _list_decoder.decode(b"[" + b",".join(raws[start:end]) + b"]")
        for raw, event in zip(raws[start:end], events, strict=True):
            if len(raw) * 2 > max_event_bytes:
                check_size([event], max_event_bytes)
        return events
    except (msgspec.ValidationError, InvalidInput):
        for i in range(start, end):
            try:
                check_size([decode_event(raws[i])], max_event_bytes)
            except InvalidInput as exc:
                raise InvalidInput([(f"$[{i}]{path[1:]}", message)
                                    for path, message in exc.errors]) from None
        raise
    except RecursionError:
        raise too_deep_error() from None


def decode_event(body: bytes | str | msgspec.Raw) -> Event:
    try:
        return _event_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise invalid_input(_name_the_label(body, exc)) from None
    except msgspec.DecodeError as exc:
        raise invalid_input(exc) from None
    except RecursionError:
        raise too_deep_error() from None


def event_from_dict(data: dict[str, Any]) -> Event:
    """Validate an already-parsed event (from YAML, a template, a Python caller)."""
    try:
        return msgspec.convert(data, Event)
    except msgspec.ValidationError as exc:
        raise invalid_input(exc) from None
    except RecursionError:
        raise too_deep_error() from None


def check_size(events: list[Event], limit: int) -> None:
    """Refuse the batch if any event is over the size limit (one bad event refuses all)."""
    for i, event in enumerate(events):
        raw = encode(event)
        if len(raw) > limit:
            where = f"$[{i}]" if len(events) > 1 else "$"
            raise InvalidInput(
                [(where, f"event is {len(raw)} bytes; the limit is {limit} bytes "
                         "(raise `max_event_bytes` in the config if this is intended)")]
            )
