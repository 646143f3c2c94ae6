"""`@flow`, `.serve()`, `.to_deployment()` and `serve()`, as in Prefect.

A flow is a plain function with a name. Calling it runs it here (with `log_prints`, print()
becomes a log line). Serving registers deployments with the daemon and then claims their runs
as they fall due, starting each in its own process — the same runner the daemon's worker uses
— until interrupted. Standard library only, so a served program starts fast.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import os
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

CLAIM_TIMEOUT = 5.0


class Flow:
    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 log_prints: bool = False, description: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.log_prints = log_prints
        self.description = description or inspect.getdoc(fn) or ""
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.log_prints:
            return self.fn(*args, **kwargs)
        original = builtins.print
        builtins.print = _print_as_log(original, os.environ.get("TOCSIN_FLOW_RUN_NAME", self.name))
        try:
            return self.fn(*args, **kwargs)
        finally:
            builtins.print = original

    def to_deployment(self, name: str, *, parameters: dict[str, Any] | None = None,
                      cron: str | None = None, interval: float | None = None,
                      timezone: str = "UTC", schedules: list[dict[str, Any]] | None = None,
                      triggers: list[Any] | None = None, tags: list[str] | None = None,
                      description: str | None = None, concurrency_limit: int | None = None,
                      paused: bool = False, job_variables: dict[str, Any] | None = None
                      ) -> RunnerDeployment:
        """A deployment of this flow that `serve()` registers and runs."""
        source = inspect.getsourcefile(self.fn)
        if source is None:
            raise ValueError(f"flow {self.name!r} has no source file; define it in a .py file")
        path = Path(source).resolve()
        all_schedules = list(schedules or [])
        if cron:
            all_schedules.append({"cron": cron, "timezone": timezone})
        if interval:
            all_schedules.append({"interval": float(interval), "timezone": timezone})
        spec = {
            "name": name, "flow_name": self.name,
            "entrypoint": f"{path.name}:{self.fn.__name__}", "path": str(path.parent),
            "python": sys.executable, "description": description or self.description,
            "parameters": parameters or {}, "tags": tags or [], "schedules": all_schedules,
            "triggers": [_trigger_dict(t) for t in triggers or []],
            "concurrency_limit": concurrency_limit, "paused": paused,
            "job_variables": job_variables or {},
        }
        return RunnerDeployment(spec)

    def serve(self, name: str | None = None, **kwargs: Any) -> None:
        """Register one deployment of this flow and run its runs until interrupted."""
        serve(self.to_deployment(name or self.name, **kwargs))


class RunnerDeployment:
    """A deployment spec waiting to be served (what `to_deployment` returns)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec["name"]


def flow(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         log_prints: bool = False, description: str | None = None) -> Any:
    """`@flow` or `@flow(name=..., log_prints=True)`."""
    def wrap(f: Callable[..., Any]) -> Flow:
        return Flow(f, name=name, log_prints=log_prints, description=description)
    return wrap(fn) if fn is not None else wrap


def _trigger_dict(trigger: Any) -> dict[str, Any]:
    if isinstance(trigger, dict):
        return trigger
    if hasattr(trigger, "to_dict"):
        return trigger.to_dict()
    raise TypeError(f"a trigger must be a dict or a Deployment*Trigger, not {type(trigger).__name__}")


def _print_as_log(original: Callable[..., None], run_name: str) -> Callable[..., None]:
    def log_print(*args: Any, sep: str = " ", end: str = "\n", file: Any = None,
                  flush: bool = False) -> None:
        if file not in (None, sys.stdout):
            original(*args, sep=sep, end=end, file=file, flush=flush)
            return
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        message = sep.join(str(a) for a in args)
        original(f"{stamp} | INFO    | Flow run {run_name!r} - {message}", flush=True)
    return log_print


def serve(*deployments: RunnerDeployment, socket_path: str | None = None) -> None:
    """Register the deployments (and their triggers) with the daemon, then start each of
    their runs as it falls due, until interrupted (Ctrl-C or SIGTERM)."""
    from .client.sync import SyncClient
    from .jobs.launch import spawn

    client = SyncClient(socket_path, timeout=CLAIM_TIMEOUT + 30)
    ids = []
    for d in deployments:
        d.spec["served_by"] = os.getpid()
        ids.append(client.request("POST", "/deployments", d.spec)["id"])
    names = ", ".join(d.name for d in deployments)
    print(f"Serving {len(deployments)} deployment(s): {names}. Press Ctrl-C to stop.", flush=True)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: dict[str, Any] = {}
    try:
        while True:
            specs = client.request("POST", "/flow_runs/claim",
                                   {"deployment_ids": ids, "pid": os.getpid(),
                                    "timeout": CLAIM_TIMEOUT})
            for spec in specs:
                _start(client, spawn, spec, children)
            for run_id, proc in list(children.items()):
                if proc.poll() is not None:
                    del children[run_id]
    except KeyboardInterrupt:
        print("Stopped serving.", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        client.close()


def _start(client: Any, spawn: Callable[[dict[str, Any]], Any], spec: dict[str, Any],
           children: dict[str, Any]) -> None:
    run_id = spec["run_id"]
    try:
        Path(spec["result_path"]).unlink(missing_ok=True)
        proc = spawn(spec)
    except OSError as exc:
        client.request("POST", f"/flow_runs/{run_id}/set_state",
                       {"state": {"type": "CRASHED",
                                  "message": f"Could not start the run's process: {exc}"},
                        "force": True})
        return
    children[run_id] = proc
    client.request("POST", f"/flow_runs/{run_id}/started", {"pid": proc.pid})


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


__all__ = ["Flow", "RunnerDeployment", "flow", "serve"]
