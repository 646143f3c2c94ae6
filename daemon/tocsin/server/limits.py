"""What clients can hold of the daemon at once: connections, request bodies, time.

No one client, and no crowd of them, may take the memory or the file descriptors the daemon
needs to go on working; `/health` and the CLI must still get in while an attacker holds
everything it can.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..errors import BodyTimeout, Busy, TooLarge

log = logging.getLogger("tocsin.api")

#: A connection with no request in progress (a keep-alive client between requests, or one
#: that has not finished sending its headers) is closed after this many seconds.
IDLE_TIMEOUT = 15.0
#: A request body must arrive within this many seconds.
BODY_TIMEOUT = 30.0
#: How long a request waits for room among the bodies in flight before it gets 503.
BODY_WAIT = 5.0
#: Connections asyncio accepts in one go (the listen backlog): each burst is taken before
#: the cap looks at any of them, so a flood can run this far past it, a few times over.
ACCEPT_BURST = 32
#: File descriptors kept for everything but client connections (database, watched files,
#: outgoing calls, job subprocesses), and for the accept bursts of a flood.
RESERVED_FDS = 256
MAX_CONNECTIONS = 4096
#: What a request (503) or an `/events/in` message (error frame) is told when the bodies in
#: flight leave no room for it within BODY_WAIT.
BUSY = "the daemon is reading too many large requests at once; retry in a moment"


def connection_limit() -> int:
    """Raise the soft fd limit to the hard one, and leave RESERVED_FDS of it (at most half)
    for everything else."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(16, min(MAX_CONNECTIONS, soft - min(RESERVED_FDS, soft // 2)))


class ConnectionCap:
    """At most `limit` connections to an aiohttp server. When one more arrives, the oldest
    connection that is only waiting (idle keep-alive, or trickling its headers) is closed to
    make room, so a crowd of half-open connections can never lock out a real request."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.limit = limit
        self.shed = 0
        self.open: dict[Any, None] = {}  # the connections not closed yet, oldest first
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self.open[handler] = None
            if len(self.open) > limit:
                self._make_room(handler)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            self.open.pop(handler, None)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _make_room(self, newcomer: Any) -> None:
        # aiohttp keeps no public flag for "handling a request"; this is RequestHandler's
        victim = next((h for h in self.open
                       if h is not newcomer and not getattr(h, "_request_in_progress", True)),
                      newcomer)  # every connection is busy with a request: refuse this one
        del self.open[victim]
        victim.force_close()
        self.shed += 1


class BodyBudget:
    """Bytes of request bodies held at once by all requests together."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._freed = asyncio.Condition()

    async def take(self, size: int) -> bool:
        """Wait (up to BODY_WAIT) until `size` bytes fit; False if they did not. A body larger
        than the whole budget waits for all of it."""
        if self.take_now(size):
            return True
        size = min(size, self.total)
        async with self._freed:
            try:
                await asyncio.wait_for(
                    self._freed.wait_for(lambda: self.used + size <= self.total), BODY_WAIT)
            except TimeoutError:
                return False
            self.used += size
            return True

    def take_now(self, size: int) -> bool:
        """`take` if `size` bytes fit at once (no coroutine: one per `/events/in` message)."""
        size = min(size, self.total)
        if self.used + size > self.total:
            return False
        self.used += size
        return True

    async def give_back(self, size: int) -> None:
        async with self._freed:
            self.used -= min(size, self.total)
            self._freed.notify_all()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_limits(budget: BodyBudget, max_body: int) -> Any:
    """Middleware: a body over `max_body` gets 413 before it is read; a body is read within
    BODY_TIMEOUT, and only while the bodies in flight leave room for it (else 503). The
    errors are answered by `error_middleware`, which must come before this one."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        size = request.content_length
        if size is not None and size > max_body:
            raise TooLarge(f"the request body is {size} bytes; the limit is {max_body} "
                           "(`max_body_bytes` in the config); send fewer events at once")
        size = max_body if size is None else size
        if not await budget.take(size):
            raise Busy(BUSY)
        try:
            try:
                await asyncio.wait_for(request.read(), BODY_TIMEOUT)
            except TimeoutError:
                raise BodyTimeout(f"the request body did not arrive within {BODY_TIMEOUT:g} s") \
                    from None
            except web.HTTPRequestEntityTooLarge:
                raise TooLarge(f"the request body is over the limit of {max_body} bytes "
                               "(`max_body_bytes` in the config)") from None
            return await handler(request)
        finally:
            await budget.give_back(size)

    return middleware
