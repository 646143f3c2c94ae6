"""The core socket API: health and events (REST shaped like Prefect's, plus websockets)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSMsgType, web

from ..errors import InvalidInput, NotFound, StoreError, TocsinError
from ..events.filter import EventFilter
from ..events.model import Event, invalid_input, too_deep_error
from .limits import BUSY

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("tocsin.api")

# Most events /events/in keeps uncommitted at once before it stops reading (backpressure).
MAX_IN_FLIGHT = 5_000
#: A live reader whose socket takes nothing for this long is cut off.
SEND_TIMEOUT = 10.0

_encoder = msgspec.json.Encoder()


def daemon_of(request: web.Request) -> Daemon:
    return request.app["daemon"]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(data), status=status, content_type="application/json")


def decode_body(body: bytes, type_: Any) -> Any:
    """Decode a request body into a msgspec type, or raise InvalidInput naming the field."""
    try:
        return msgspec.json.decode(body, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise invalid_input(exc) from None


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The one place a TocsinError becomes an HTTP answer: its status, and
    `{"detail": ..., "code": ...}` (errors.py says what each holds)."""
    try:
        return await handler(request)
    except RecursionError:  # JSON nested past what a decoder follows (json.loads, msgspec)
        return _error_answer(too_deep_error())
    except TocsinError as exc:
        return _error_answer(exc)


def _error_answer(exc: TocsinError) -> web.Response:
    return json_response(exc.answer(), status=exc.status)


def store_error(exc: Exception) -> str:
    """What a failed store call tells a client (a StoreError says it all; anything else is
    a bug, logged with its traceback where it happened)."""
    return str(exc) if isinstance(exc, StoreError) else f"internal error: {type(exc).__name__}"


async def health(request: web.Request) -> web.Response:
    return json_response(daemon_of(request).status())


async def post_events(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    events = await daemon.decode(await request.read())
    stored = await daemon.ingest(events)
    return json_response({"stored": len(stored), "ids": [str(e.id) for e in events]}, status=201)


async def get_event(request: web.Request) -> web.Response:
    event = await daemon_of(request).store.get(request.match_info["id"])
    if event is None:
        raise NotFound("no event with that id")
    return json_response(event)


async def filter_events(request: web.Request) -> web.Response:
    body = await request.read()
    f = decode_body(body or b"{}", EventFilter)
    events, next_page = await daemon_of(request).store.query(f)
    return json_response({"events": events, "next_page": next_page})


async def events_in(request: web.Request) -> web.WebSocketResponse:
    """A stream of events (each message one event or a list), stored as they arrive.

    Messages are gathered while the previous batch commits, so one commit carries many
    messages; the close handshake completes only after everything received is committed.
    Every message is stored or answered: a bad message, or one the store refuses, gets an
    error frame naming it by its number (counted from 1) and is skipped.
    """
    daemon = daemon_of(request)
    ws = web.WebSocketResponse(autoclose=False, max_msg_size=daemon.config.max_body_bytes)
    await ws.prepare(request)
    await receive_events(daemon, ws)
    return ws


async def receive_events(daemon: Daemon, ws: web.WebSocketResponse) -> None:
    """`events_in`'s loop, shared with Prefect's `/api/events/in`. A ping (when the socket
    does not answer pings itself) is answered only once everything before it is committed:
    Prefect's client takes the pong as its checkpoint."""
    batcher = _Batcher(daemon, ws)
    number = 0
    try:
        async for msg in ws:
            if msg.type == WSMsgType.CLOSE:
                break
            if msg.type == WSMsgType.PING:
                await batcher.drain()
                await ws.pong(msg.data)
                continue
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            number += 1
            await batcher.add(number, msg.data.encode() if isinstance(msg.data, str) else msg.data)
        await batcher.drain()
    finally:
        await batcher.release()
    await ws.close()


class _Batcher:
    """Feeds one connection's events to `ingest`, one batch in flight at a time; a batch the
    store refuses is stored again message by message, to answer only the guilty ones.

    A message counts in the daemon's bodies in flight (like a POST body) from when it is
    taken until its events are committed or refused, so many parallel senders together
    cannot hold more than `max_bodies_in_flight_bytes`; while there is no room, this
    connection reads nothing more, and a message that finds none within BODY_WAIT is refused.
    """

    def __init__(self, daemon: Daemon, ws: web.WebSocketResponse) -> None:
        self.daemon = daemon
        self.ws = ws
        self.pending: list[tuple[int, list[Event], int]] = []  # (number, events, bytes)
        self.count = 0
        self.flushing: asyncio.Task[None] | None = None

    async def add(self, number: int, data: bytes) -> None:
        """Decode message `number` into the next batch, or answer why not."""
        bodies = self.daemon.bodies
        if not (bodies.take_now(len(data)) or await bodies.take(len(data))):
            await self.refuse(number, [{"loc": "$", "msg": BUSY}])
            return
        try:
            events = await self.daemon.decode(data)
        except BaseException as exc:
            await bodies.give_back(len(data))
            if not isinstance(exc, InvalidInput):
                raise
            await self.refuse(number, exc.as_json())
            return
        self.pending.append((number, events, len(data)))
        self.count += len(events)
        if self.count >= MAX_IN_FLIGHT and self.flushing is not None:
            await self.flushing  # backpressure: stop reading until the commit catches up
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())

    async def refuse(self, number: int, detail: Any) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(_encoder.encode(
                {"type": "error", "message": number, "detail": detail}))

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending, self.count = self.pending, [], 0
            try:
                await self.daemon.ingest([e for _, events, _ in batch for e in events])
            except Exception:  # noqa: BLE001 - each message is answered below
                await self._one_by_one(batch)
            finally:
                await self.daemon.bodies.give_back(sum(size for _, _, size in batch))

    async def _one_by_one(self, batch: list[tuple[int, list[Event], int]]) -> None:
        for number, events, _ in batch:
            try:
                await self.daemon.ingest(events)
            except Exception as exc:  # noqa: BLE001 - answered to the client that sent it
                await self.refuse(number, [{"loc": "$", "msg": f"not stored: {store_error(exc)}"}])

    async def drain(self) -> None:
        if self.flushing is not None:
            await self.flushing
        await self._flush()

    async def release(self) -> None:
        """Give back the bytes of messages no commit took (the connection ended early)."""
        batch, self.pending = self.pending, []
        await self.daemon.bodies.give_back(sum(size for _, _, size in batch))


async def events_out(request: web.Request) -> web.WebSocketResponse:
    """Live events matching a filter, after commit; first message: {"filter", "backfill"}.

    We subscribe before reading the backfill and skip ids already sent, so nothing falls in
    the gap between history and live.
    """
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    try:
        f, backfill = _stream_request(await ws.receive(timeout=10))
    except TimeoutError:  # a reader that says nothing gets every event
        f, backfill = EventFilter(), 0
    except InvalidInput as exc:
        await ws.send_bytes(_encoder.encode({"type": "error", "detail": str(exc)}))
        await ws.close()
        return ws
    await stream_events(request, ws, f, backfill)
    return ws


async def stream_events(request: web.Request, ws: web.WebSocketResponse, f: EventFilter,
                        backfill: int) -> None:
    """`events_out`'s loop, shared with Prefect's `/api/events/out` (the same messages)."""
    daemon = daemon_of(request)
    sub = daemon.bus.subscribe(f.compile())
    reader = asyncio.create_task(_drain_client(ws))
    try:
        sent: set[str] = set()
        if backfill:
            history_filter = msgspec.structs.replace(f, limit=min(backfill, 10_000), order="newest")
            history, _ = await daemon.store.query(history_filter)
            for event in reversed(history):
                sent.add(str(event.id))
                await _send(request, ws, {"type": "event", "event": event})
        while not ws.closed:
            getter = asyncio.ensure_future(sub.next())
            finished, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in finished:
                getter.cancel()
                break
            event = getter.result()
            if event is None:
                await _send(request, ws, {
                    "type": "dropped", "detail": "this reader fell behind and was cut off; "
                    "reconnect (with backfill) to catch up"})
                break
            if not sent or str(event.id) not in sent:
                await _send(request, ws, {"type": "event", "event": event})
    except ConnectionError:
        pass  # the reader is gone, or was cut off for not reading
    finally:
        sub.close()
        reader.cancel()
        try:
            await asyncio.wait_for(ws.close(), SEND_TIMEOUT)
        except (TimeoutError, ConnectionError):
            _cut_off(request)


async def _send(request: web.Request, ws: web.WebSocketResponse, message: Any) -> None:
    """Send to a reader, or cut it off if its socket has taken nothing for SEND_TIMEOUT
    (a reader that stopped reading would otherwise hold its connection forever)."""
    try:
        await asyncio.wait_for(ws.send_bytes(_encoder.encode(message)), SEND_TIMEOUT)
    except TimeoutError:
        _cut_off(request)
        raise ConnectionResetError("the reader stopped reading and was cut off") from None


def _cut_off(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


def _stream_request(first: Any) -> tuple[EventFilter, int]:
    """The filter and backfill of `/events/out`'s first message (absent: everything, none)."""
    if first.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return EventFilter(), 0
    try:
        spec = msgspec.json.decode(first.data, type=dict[str, Any])
        backfill = int(spec.get("backfill") or 0)
        return msgspec.convert(spec.get("filter") or {}, EventFilter), backfill
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInput([("filter", f"first message must be "
                                       f'{{"filter": {{...}}, "backfill": N}}: {exc}')]) from None
    except (TypeError, ValueError):
        raise InvalidInput([("backfill", "must be a whole number")]) from None


async def _drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client messages so a close from the client is noticed."""
    async for _ in ws:
        pass


def core_routes() -> list[web.RouteDef]:
    return [
        web.get("/health", health),
        web.post("/events", post_events),
        web.post("/events/filter", filter_events),
        web.get("/events/in", events_in),
        web.get("/events/out", events_out),
        web.get("/events/{id}", get_event),
    ]
