"""The daemon process: wiring, lifecycle, signals and systemd notification."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from .. import __version__
from ..config import Config, load_config
from ..errors import ConfigError, TocsinError
from ..events.model import SLICE_BYTES, Event, check_size, decode_events, event_slices
from ..events.store import EventStore, Statements
from ..paths import default_home, default_socket
from ..repeated import RepeatFilter
from . import filemodes, systemd
from .api import core_routes, error_middleware
from .bus import EventBus
from .component import Component
from .limits import ACCEPT_BURST, IDLE_TIMEOUT, BodyBudget, ConnectionCap, body_limits, connection_limit
from .ownership import HomeLock, Identity, identity, remove_if_ours
from .unixsocket import LISTEN_BACKLOG, bind_socket

log = logging.getLogger("tocsin.daemon")

#: How often the daemon checks that its socket file is still there (and binds it again).
SOCKET_CHECK_SECONDS = 1.0


@dataclass
class Paths:
    home: Path
    socket: Path
    config: Path | None

    @classmethod
    def resolve(cls, home: str | None, socket: str | None, config: str | None,
                cfg: Config) -> Paths:
        home_path = Path(home) if home else default_home()
        if socket:
            sock = Path(socket)
        elif os.environ.get("TOCSIN_SOCKET") or not cfg.socket:
            sock = default_socket(home_path)
        else:
            sock = Path(cfg.socket)
        return cls(home_path, sock, Path(config) if config else None)


def build_components() -> list[Component]:
    """Every part of the daemon beyond the event store, in start order."""
    from ..actions.component import ActionsComponent
    from ..automations.component import EngineComponent
    from ..jobs.component import JobsComponent
    from ..prefect.api import PrefectApiComponent
    from ..prefect.forward import ForwardComponent
    from ..prefect.subscribe import SubscribeComponent
    from ..sources.watch import WatchComponent
    from ..sources.webhooks import WebhookComponent

    return [ActionsComponent(), EngineComponent(), WatchComponent(), WebhookComponent(),
            JobsComponent(), PrefectApiComponent(), ForwardComponent(), SubscribeComponent()]


def store_sizes(db: Path) -> dict[str, object]:
    """The store file and its WAL, in bytes (for `GET /health` and the dashboard's status)."""
    out: dict[str, object] = {"path": str(db)}
    for key, path in (("bytes", db), ("wal_bytes", db.with_name(db.name + "-wal"))):
        try:
            out[key] = path.stat().st_size
        except OSError:
            out[key] = 0
    return out


class Daemon:
    def __init__(self, config: Config, paths: Paths,
                 components: list[Component] | None = None,
                 lock: HomeLock | None = None) -> None:
        self.config = config
        self.paths = paths
        self.store = EventStore(paths.home / "tocsin.db", retention=timedelta(seconds=config.retention),
                                wal_limit=config.max_wal_mb * 1024 * 1024)
        self.bus = EventBus()
        self.components = build_components() if components is None else components
        self.started = time.time()
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self._prune_task: asyncio.Task[None] | None = None
        self._started: list[Component] = []
        self.lock = lock
        #: which socket file we bound (device, inode, ctime): removed at stop only if ours
        self._socket_id: Identity | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._socket_lost = False
        self.bodies = BodyBudget(config.max_bodies_in_flight_bytes)
        #: held while a large body is decoded: one at a time, so the loop runs at most one
        #: slice of decoding between any two of its other callbacks
        self._decoding = asyncio.Lock()
        self._deadline: threading.Timer | None = None
        self.connections: ConnectionCap | None = None

    # -- what components and the API call --------------------------------------------------
    async def decode(self, body: bytes) -> list[Event]:
        """The events of a POST body or an `/events/in` message, validated and size-checked
        (InvalidInput naming the field). A large body is decoded a slice at a time, letting
        the loop run between slices, so `/health` answers while 16 MB bodies arrive."""
        if len(body) <= SLICE_BYTES:
            events = decode_events(body)
            self.check_size(events, len(body))
            return events
        events = []
        async with self._decoding:
            for part in event_slices(body, self.config.max_event_bytes):
                events += part
                await asyncio.sleep(0)
        return events

    def check_size(self, events: list[Event], body_bytes: int) -> None:
        """Refuse events over `max_event_bytes` (InvalidInput). A body well under the limit
        cannot hold an event over it, so only large bodies pay for encoding each event."""
        limit = self.config.max_event_bytes
        if body_bytes * 2 > limit:
            check_size(events, limit)

    async def ingest(self, events: list[Event], *, extra: Statements | None = None) -> list[Event]:
        """Store (group commit), then publish what was new to the engine and live readers."""
        return await self.prepared(events, extra=extra)()

    def prepared(self, events: list[Event], *,
                 extra: Statements | None = None) -> Callable[[], Awaitable[list[Event]]]:
        """`ingest` in two steps: the rows are built now; awaiting the returned function
        stores and publishes them (the tailer builds a batch while the last one commits)."""
        write = self.store.prepare(events, extra=extra)

        async def store_and_publish() -> list[Event]:
            stored = await self.store.submit(write)
            self.bus.publish(stored)
            return stored

        return store_and_publish

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    def status(self) -> dict[str, object]:
        return {
            "status": "ok" if self.store.problem is None else "not storing events",
            "problem": self.store.problem,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 3),
            "home": str(self.paths.home),
            "socket": str(self.paths.socket),
            "subscribers": self.bus.subscribers,
            "store": store_sizes(self.store.path),
            "components": {c.name: c.status() for c in self.components},
        }

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the socket (refusing if another daemon answers), open the store, start the
        components, then accept connections and tell systemd we are ready."""
        sock = self._bind()
        await self.store.open(c.schema for c in self.components if c.schema)
        for c in self.components:
            await c.start(self)
            self._started.append(c)
        max_body = self.config.max_body_bytes
        app = web.Application(client_max_size=max_body, middlewares=[
            error_middleware, body_limits(self.bodies, max_body)])
        app["daemon"] = self
        app.add_routes(core_routes())
        for c in self.components:
            app.add_routes(c.routes())
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     keepalive_timeout=IDLE_TIMEOUT)
        await self._runner.setup()
        self.connections = ConnectionCap(self._runner.server, connection_limit())
        await self._serve_on(sock)
        self._prune_task = asyncio.create_task(self._prune_loop(), name="prune")
        self._socket_task = asyncio.create_task(self._watch_socket(), name="socket-watch")
        log.info("tocsin %s listening on %s (home %s)", __version__, self.paths.socket,
                 self.paths.home)
        systemd.notify("READY=1")

    async def stop(self) -> None:
        """Undo whatever `start` got to, in reverse; safe after a failed start."""
        ready = self._runner is not None  # a start that failed early has nothing to report
        systemd.notify("STOPPING=1")
        if ready:
            log.info("shutting down")
        if self._prune_task is not None:
            self._prune_task.cancel()
        if self._socket_task is not None:
            self._socket_task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        for c in reversed(self._started):
            try:
                await c.stop()
            except Exception:  # the others, and the store, must stop all the same
                log.exception("stopping %s failed", c.name)
        self._started.clear()
        await self.store.close()
        remove_if_ours(self.paths.socket, self._socket_id)
        self._socket_id = None
        if ready:
            log.info("stopped; everything accepted is committed")

    async def reload(self) -> None:
        """SIGHUP: parse and validate the whole config first — the file, then each part's
        own settings — and keep the running one if anything is wrong."""
        try:
            new = load_config(self.paths.config)
            for c in self.components:
                c.check(new)
        except ConfigError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            return
        self.config = new
        self.store.retention = timedelta(seconds=new.retention)
        logging.getLogger().setLevel(new.log_level.upper())
        for c in self.components:
            await c.reload(new)
        log.info("config reloaded from %s", self.paths.config or "embedded defaults")

    # -- the socket file ---------------------------------------------------------------------
    def _bind(self) -> socket.socket:
        """Bind the socket and remember which file it is, so that only that file is removed
        at stop (after a restart race the path may already be the next daemon's)."""
        sock = bind_socket(self.paths.socket, int(self.config.socket_mode, 8),
                           self.config.socket_group)
        self._socket_id = identity(self.paths.socket)
        return sock

    async def _serve_on(self, sock: socket.socket) -> None:
        """Accept connections on `sock`. asyncio takes the listen backlog as the most
        connections to accept in one go, and sets it: accept in small bursts (the connection
        cap looks at each burst), then give the kernel's queue its depth back."""
        assert self._runner is not None
        await web.SockSite(self._runner, sock, shutdown_timeout=2.0, backlog=ACCEPT_BURST).start()
        sock.listen(LISTEN_BACKLOG)

    async def _watch_socket(self) -> None:
        """Bind again when the socket file is deleted under us (a stray `rm`, a tmp cleaner):
        otherwise the daemon runs on unreachable and the next `tocsin` starts another."""
        while True:
            await asyncio.sleep(SOCKET_CHECK_SECONDS)
            try:
                await self._check_socket()
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("could not bind the socket %s again; will retry", self.paths.socket)

    async def _check_socket(self) -> None:
        now = identity(self.paths.socket)
        if now == self._socket_id:
            self._socket_lost = False
            return
        if now is not None:  # someone else's file: not ours to remove or replace
            if not self._socket_lost:
                log.error("the socket file %s was replaced by another; this daemon is not "
                          "reachable there until it is removed", self.paths.socket)
            self._socket_lost = True
            return
        await self._serve_on(self._bind())
        self._socket_lost = False
        log.warning("the socket file %s was deleted; bound it again", self.paths.socket)

    async def _prune_loop(self) -> None:
        while True:
            try:
                removed = await self.store.prune()
                if removed:
                    log.info("pruned %d events older than %s", removed, self.store.retention)
            except Exception:
                log.exception("pruning failed; will try again")
            await asyncio.sleep(self.config.prune_interval)

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: say so in the home lock at once (a daemon started meanwhile waits
        for this one instead of refusing), then stop."""
        if self.lock is not None:
            self.lock.mark("stopping")
        self._stop.set()

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        # Plain signal handlers, not the loop's: they run even while the loop is stuck, and
        # start the clock on a bounded stop before asking the loop to stop.
        def on_stop_signal(signum: int, frame: object) -> None:
            self._exit_within(self.config.stop_grace)
            loop.call_soon_threadsafe(self.request_stop)

        signal.signal(signal.SIGTERM, on_stop_signal)
        signal.signal(signal.SIGINT, on_stop_signal)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()

    def _exit_within(self, grace: float) -> None:
        """Make sure the process ends `grace` seconds from now, whatever it is waiting for
        (a hung disk, a stuck thread): what was acknowledged is committed already."""
        if self._deadline is not None:
            return

        def overdue() -> None:
            log.error("did not stop within %g s of the stop signal (stop_grace); exiting now",
                      grace)
            logging.shutdown()
            os._exit(1)

        self._deadline = threading.Timer(grace, overdue)
        self._deadline.daemon = True
        self._deadline.start()


def setup_logging(level: str) -> None:
    """One line per record on stderr (journald adds its own timestamps under systemd)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    repeats = RepeatFilter()
    for noisy in ("aiohttp.server", "aiohttp.web", "aiohttp.websocket", "asyncio"):
        logging.getLogger(noisy).addFilter(repeats)


def run_daemon(home: str | None, socket: str | None, config: str | None,
               log_level: str | None) -> int:
    cfg = load_config(Path(config) if config else None)
    setup_logging(log_level or cfg.log_level)
    paths = Paths.resolve(home, socket, config, cfg)
    user_umask = filemodes.set_private_umask()
    lock = own_home(paths, filemodes.home_mode(paths.socket, paths.home, cfg.socket_group))
    try:
        daemon = Daemon(cfg, paths, lock=lock)
        tune_gc()
        # `kill -USR1` writes every thread's stack to stderr (the log): how to see a stuck daemon.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        asyncio.run(daemon.serve_forever())
    finally:
        lock.release()
        os.umask(user_umask)
    return 0


def own_home(paths: Paths, mode: int = filemodes.DIR_MODE) -> HomeLock:
    """Make the home (0700, or `mode`), take its lock (HomeInUse when another daemon has it),
    and tighten what an older or hand-made home left readable to others."""
    try:
        paths.home.mkdir(parents=True, exist_ok=True, mode=filemodes.DIR_MODE)
        lock = HomeLock(paths.home)
        lock.acquire(paths.socket)
    except OSError as exc:
        raise TocsinError(f"cannot use {paths.home} as the tocsin home: "
                          f"{exc.strerror or exc}") from None
    changed = filemodes.tighten(paths.home, mode)
    if changed:
        log.warning("made %d paths in %s private to this user (the home %o, folders 0700, "
                    "files 0600), e.g. %s", len(changed), paths.home, mode, changed[0])
    return lock


def tune_gc() -> None:
    """Fewer, later collections: the daemon allocates many short-lived objects per event, and
    the default young-generation threshold (700) made collections the main source of the
    engine's p99 latency. Modules imported so far are frozen out of collection entirely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
