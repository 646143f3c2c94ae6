"""A standard-library client: HTTP/1.1 over the Unix socket with http.client and json."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DaemonNotRunning, TocsinError, from_answer
from ..ids import uuid7
from ..paths import default_socket
from .resources import Call, Resources

if TYPE_CHECKING:
    from ..events.model import Event


def default_socket_path() -> Path:
    return default_socket()


def new_event_id() -> str:
    return str(uuid7())


class _Connection:
    """HTTP/1.1 keep-alive over a Unix socket, just enough for our own daemon's answers.

    http.client would do, but importing it (with email and ssl) costs ~17 ms of the
    `tocsin emit` budget; the daemon always answers with a Content-Length.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            _connect(self.sock, path, timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            self.sock.close()
            raise DaemonNotRunning(path) from None
        except OSError as exc:  # a path too long for AF_UNIX, no permission, ...
            self.sock.close()
            raise TocsinError(f"cannot connect to the daemon socket {path}: "
                              f"{exc.strerror or exc}") from None
        self.buf = b""

    def exchange(self, method: str, target: str, body: bytes | None) -> tuple[int, bytes]:
        head = f"{method} {target} HTTP/1.1\r\nHost: tocsin\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        header, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(self.buf) < length:
            self._fill()
        payload, self.buf = self.buf[:length], self.buf[length:]
        return status, payload

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the daemon closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def _connect(sock: socket.socket, path: str, timeout: float) -> None:
    """Connect, waiting while the daemon's accept queue is full (a Unix socket answers that
    with EAGAIN at once instead of waiting, as a busy daemon under a flood would need)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SyncClient(Resources):
    """The API by resource (`client.automations.list()`, see resources.py), sent over one
    kept-alive connection."""

    def __init__(self, socket_path: str | Path | None = None, timeout: float = 30.0) -> None:
        super().__init__(self.send)
        self.socket_path = str(socket_path or default_socket_path())
        self.timeout = timeout
        self._conn: _Connection | None = None

    def send(self, call: Call) -> Any:
        """Run one described call (see resources.py): its decoded answer."""
        return self.request(*call)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; JSON in and out. Raises DaemonNotRunning, or for an error
        answer the ApiError it names (NotFound, InvalidInput...: `errors.from_answer`)."""
        data = None if body is None else json.dumps(body, default=str).encode()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = _Connection(self.socket_path, self.timeout)
            try:
                status, raw = self._conn.exchange(method, path, data)
                break
            except (BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the daemon closed: one fresh try.
                self.close()
                if attempt == 2:
                    raise DaemonNotRunning(self.socket_path) from None
        payload = json.loads(raw) if raw else None
        if status >= 400:
            raise from_answer(status, payload)
        return payload

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_event(event: str, resource: dict[str, str], *,
                related: list[dict[str, str]] | None = None,
                payload: dict[str, Any] | None = None, id: str | None = None,
                follows: str | None = None, occurred: datetime | None = None) -> dict[str, Any]:
    """An event in Prefect's JSON shape, with `id` and `occurred` filled in."""
    data: dict[str, Any] = {
        "id": str(id) if id else new_event_id(),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": event,
        "resource": resource,
        "related": [*(related or []), *_run_lineage()],
        "payload": payload or {},
    }
    if follows:
        data["follows"] = str(follows)
    return data


def _run_lineage() -> list[dict[str, str]]:
    """Inside a flow run an automation started, the chain that led to it, so the loop guard
    sees the events the run emits (events/lineage.py). Imported only then: `tocsin emit`
    stays light."""
    if not os.environ.get("TOCSIN_LINEAGE"):  # lineage.ENV, read before importing it
        return []
    from ..events import lineage

    return lineage.related(lineage.from_environment())


def emit_event(event: str, resource: dict[str, str], occurred: datetime | None = None,
               related: list[dict[str, str]] | None = None,
               payload: dict[str, Any] | None = None, id: str | None = None,
               follows: str | None = None, *, socket_path: str | Path | None = None
               ) -> Event:
    """Emit one event to the local daemon, as Prefect's `emit_event` does; returns it as an
    Event (`.id`, `.event`, `.resource`, ...)."""
    from ..events.model import event_from_dict

    data = build_event(event, resource, related=related, payload=payload, id=id,
                       follows=follows, occurred=occurred)
    with SyncClient(socket_path) as client:
        emit_or_spool(client, [data])
    return event_from_dict(data)


def emit_or_spool(client: SyncClient, events: list[dict[str, Any]]) -> bool:
    """Send events; when no daemon answers, append them to the spool (which the daemon reads
    when it starts) and say so on stderr. Returns True if they were spooled."""
    try:
        client.emit(events)
        return False
    except DaemonNotRunning:
        import sys

        from ..events.model import decode_events
        from ..sources.spool import spool_events

        # Refuse here what the daemon would refuse later, rather than spool it and exit 0.
        decode_events(json.dumps(events, default=str).encode())
        now = datetime.now(UTC).isoformat()
        for e in events:  # when they were emitted, not when the daemon gets to the spool
            e.setdefault("occurred", now)
        path = spool_events(events)
        print(f"tocsin: the daemon is not running; spooled {len(events)} event(s) to {path} "
              "(they are stored when it starts)", file=sys.stderr)
        return True
