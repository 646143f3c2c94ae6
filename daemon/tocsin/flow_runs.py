"""What a flow or task run is while it runs in a program: its log lines and, for a flow called
directly (no deployment), its states reported to the daemon.

Log lines look like Prefect's (`12:00:00.123 | INFO    | Flow run 'rapid-ant' - text`) and go
to stdout; a directly-called flow also appends them to its run's log file, so `tocsin run
logs` shows them. A run started by the daemon or `serve` already has stdout as its log file.

A directly-called flow is a flow run, as in Prefect: it is created Pending in the daemon, then
Running, then Completed or Failed (AwaitingRetry between retries), and the daemon emits the
same `prefect.flow-run.*` events, with the same related resources, as for any other run. With
no daemon, the same events are built here and spooled (the daemon stores them when it starts).
Standard library only, plus msgspec for the spooled events.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import DaemonNotRunning, TocsinError


@dataclass
class RunContext:
    """The run whose code is executing: `kind` is "Flow run" or "Task run"."""

    kind: str
    name: str
    log_file: str | None = None


current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("tocsin_run",
                                                                           default=None)


def log_line(ctx: RunContext, level: str, message: str) -> None:
    """One log line of the run, in Prefect's console format."""
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    line = f"{stamp} | {level:<7} | {ctx.kind} {ctx.name!r} - {message}\n"
    sys.stdout.write(line)
    sys.stdout.flush()
    if ctx.log_file:
        with open(ctx.log_file, "a") as f:
            f.write(line)


class _RunHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        ctx = current.get()
        if ctx is not None:
            log_line(ctx, record.levelname, record.getMessage())


_logger = logging.getLogger("tocsin.run")
_logger.propagate = False
_logger.setLevel(logging.INFO)
_logger.addHandler(_RunHandler())


def get_run_logger() -> logging.Logger:
    """The logger of the current flow or task run (Prefect's `get_run_logger`): its records
    are the run's log lines."""
    if current.get() is None:
        raise TocsinError("get_run_logger() was called outside a flow or task run; call it "
                          "inside a function decorated with @flow or @task")
    return _logger


def print_as_log(original: Any) -> Any:
    """A `print` that writes the current run's log line (for `log_prints=True`)."""
    def log_print(*args: Any, sep: str = " ", end: str = "\n", file: Any = None,
                  flush: bool = False) -> None:
        ctx = current.get()
        if ctx is None or file not in (None, sys.stdout):
            original(*args, sep=sep, end=end, file=file, flush=flush)
            return
        log_line(ctx, "INFO", sep.join(str(a) for a in args))
    return log_print


class DirectRun:
    """The daemon's record of a flow called directly: created Pending, then each state the
    call goes through. Without a daemon, the events are spooled instead."""

    def __init__(self, flow_name: str, parameters: dict[str, Any], tags: list[str]) -> None:
        from .client.sync import SyncClient

        self.client = SyncClient()
        self.offline: list[dict[str, Any]] | None = None
        try:
            self.run = self.client.runs.create(flow_name, parameters, tags)
        except DaemonNotRunning:
            self.run = self._offline_run(flow_name, parameters, tags)
        self.name: str = self.run["name"]
        self.log_file: str | None = self.run.get("log_path")
        if self.log_file:
            Path(self.log_file).parent.mkdir(parents=True, exist_ok=True)

    def set_state(self, type_: str, name: str, message: str = "") -> None:
        if self.offline is not None:
            self._offline_event(type_, name, message)
            return
        state = {"type": type_, "name": name, "message": message}
        try:
            self.client.runs.set_state(self.run["id"], state)
        except TocsinError as exc:  # the flow goes on; its record is what suffers
            print(f"tocsin: could not record state {name} of flow run {self.name!r}: {exc}",
                  file=sys.stderr)

    def close(self) -> None:
        """Send what could not be sent (spooling it when there is still no daemon)."""
        if self.offline:
            from .client.sync import emit_or_spool

            emit_or_spool(self.client, self.offline)
        self.client.close()

    # -- no daemon: the same events, built here ---------------------------------------------
    def _offline_run(self, flow_name: str, parameters: dict[str, Any],
                     tags: list[str]) -> dict[str, Any]:
        import uuid

        from .jobs.model import FlowRun, State
        from .jobs.names import run_name

        # A flow's id is the daemon's to give; offline, one derived from the name stays stable.
        self._run = FlowRun(id=str(uuid.uuid4()), name=run_name(),
                            flow_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"tocsin:flow:{flow_name}")),
                            flow_name=flow_name, state=State.named("Pending"),
                            tags=sorted(set(tags)), parameters=parameters)
        self.offline = []
        self._emit_offline(None)
        return {"id": self._run.id, "name": self._run.name}

    def _offline_event(self, type_: str, name: str, message: str) -> None:
        from .jobs.model import State

        initial = self._run.state
        self._run.state = State(type=type_, name=name, message=message)
        self._run.run_count += name == "Running"
        self._emit_offline(initial)

    def _emit_offline(self, initial: Any) -> None:
        import msgspec

        from .jobs.events import flow_run_state_event

        event = flow_run_state_event(self._run, initial)
        assert self.offline is not None
        self.offline.append(msgspec.to_builtins(event))


def in_deployment_run() -> RunContext | None:
    """The context of a run the daemon or `serve` started in this process (the runner sets
    TOCSIN_FLOW_RUN_ID), for the flow it calls."""
    run_id = os.environ.get("TOCSIN_FLOW_RUN_ID")
    if not run_id:
        return None
    return RunContext("Flow run", os.environ.get("TOCSIN_FLOW_RUN_NAME") or run_id)
