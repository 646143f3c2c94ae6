"""`@flow`, `.with_options()`, `.deploy()`, `.to_deployment()`, `.serve()` and `serve()`, as in
Prefect.

A flow is a function with a name and Prefect's options (`retries`, `retry_delay_seconds`,
`timeout_seconds`, `log_prints`, `description`, `version`). Called directly it is a flow run
that the daemon records, with Prefect's events (see `flow_runs`); called in a run the daemon
or `serve` started, it is that run. `deploy` registers a deployment that the daemon's worker
runs; serving registers deployments and then claims their runs as they fall due, starting
each in its own process — the same runner the daemon's worker uses — and showing its output,
until interrupted. Standard library only, so a served program starts fast.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import TocsinError
from .flow_runs import DirectRun, RunContext, current, in_deployment_run, log_line, print_as_log
from .tasks import call_with_retries

CLAIM_TIMEOUT = 5.0
ECHO_EVERY = 0.2


class Flow:
    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 log_prints: bool = False, description: str | None = None,
                 version: str | None = None, retries: int = 0, retry_delay_seconds: float = 0,
                 timeout_seconds: float | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__.replace("_", "-")
        self.log_prints = log_prints
        self.description = description or inspect.getdoc(fn) or ""
        self.version = version
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        functools.update_wrapper(self, fn)

    def with_options(self, **changes: Any) -> Flow:
        """A copy of this flow with some options changed (Prefect's `with_options`)."""
        options = {"name": self.name, "log_prints": self.log_prints,
                   "description": self.description, "version": self.version,
                   "retries": self.retries, "retry_delay_seconds": self.retry_delay_seconds,
                   "timeout_seconds": self.timeout_seconds}
        return Flow(self.fn, **{**options, **changes})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Inside a run (a flow calling a flow, or the run the daemon or serve started), the
        # call belongs to that run; otherwise it is a flow run of its own.
        ctx = current.get() or in_deployment_run()
        if ctx is not None:
            return self._run(ctx, args, kwargs, lambda attempt, exc: None)
        return self._run_direct(args, kwargs)

    def _run(self, ctx: RunContext, args: tuple[Any, ...], kwargs: dict[str, Any],
             on_retry: Callable[[int, BaseException], None],
             before: Callable[[], None] = lambda: None) -> Any:
        """The function, in the run's context, with print as log lines (log_prints),
        retries and the timeout."""
        token = current.set(ctx)
        original = builtins.print
        if self.log_prints:
            builtins.print = print_as_log(original)

        def attempt() -> Any:
            before()
            return self._with_timeout(args, kwargs)

        try:
            return call_with_retries(attempt, self.retries, self.retry_delay_seconds, on_retry)
        finally:
            builtins.print = original
            current.reset(token)

    def _run_direct(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A flow run of its own: Pending, Running, then Completed or Failed (raising the
        flow's exception, as Prefect does), AwaitingRetry between retries."""
        from .jobs.runner import jsonable

        bound = inspect.signature(self.fn).bind(*args, **kwargs)
        bound.apply_defaults()
        run = DirectRun(self.name, {k: jsonable(v) for k, v in bound.arguments.items()}, [])
        ctx = RunContext("Flow run", run.name, run.log_file)
        log_line(ctx, "INFO", f"Beginning flow run {run.name!r} for flow {self.name!r}")

        def retry(attempt: int, exc: BaseException) -> None:
            message = (f"Flow run encountered an exception: {type(exc).__name__}: {exc}. "
                       f"Retry {attempt}/{self.retries} will start "
                       f"{self.retry_delay_seconds} second(s) from now")
            log_line(ctx, "ERROR", message)
            run.set_state("SCHEDULED", "AwaitingRetry", message)

        try:
            try:
                value = self._run(ctx, args, kwargs, retry,
                                  before=lambda: run.set_state("RUNNING", "Running"))
            except Exception as exc:
                message = f"Flow run encountered an exception: {type(exc).__name__}: {exc}"
                run.set_state("FAILED", "Failed", message)
                log_line(ctx, "ERROR", f"Finished in state Failed({message!r})")
                raise
            run.set_state("COMPLETED", "Completed")
            log_line(ctx, "INFO", "Finished in state Completed()")
            return value
        finally:
            run.close()

    def _with_timeout(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The call, stopped with TimeoutError after `timeout_seconds` (a SIGALRM timer, so
        only in the main thread; elsewhere the flow runs without a limit)."""
        if not self.timeout_seconds or threading.current_thread() is not threading.main_thread():
            return self.fn(*args, **kwargs)

        def expire(signum: int, frame: Any) -> None:
            raise TimeoutError(f"Flow run exceeded timeout of {self.timeout_seconds} second(s)")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, float(self.timeout_seconds))
        try:
            return self.fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def to_deployment(self, name: str, *, parameters: dict[str, Any] | None = None,
                      cron: str | None = None, interval: float | None = None,
                      timezone: str = "UTC", schedules: list[dict[str, Any]] | None = None,
                      triggers: list[Any] | None = None, tags: list[str] | None = None,
                      description: str | None = None, version: str | None = None,
                      concurrency_limit: int | None = None, paused: bool = False,
                      job_variables: dict[str, Any] | None = None) -> RunnerDeployment:
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
            "version": version or self.version,
            "parameters": parameters or {}, "tags": tags or [], "schedules": all_schedules,
            "triggers": [_trigger_dict(t) for t in triggers or []],
            "concurrency_limit": concurrency_limit, "paused": paused,
            "job_variables": job_variables or {},
        }
        return RunnerDeployment(spec)

    def serve(self, name: str | None = None, **kwargs: Any) -> None:
        """Register one deployment of this flow and run its runs until interrupted."""
        serve(self.to_deployment(name or self.name, **kwargs))

    def deploy(self, name: str, work_pool_name: str | None = None, image: str | None = None,
               *, work_queue_name: str | None = None, socket_path: str | None = None,
               **kwargs: Any) -> str:
        """Register a deployment of this flow that the daemon's worker runs from its work
        pool (created if missing); returns its id. Prefect builds and pushes `image` and
        runs the flow in it; tocsin records it (job_variables.image) and runs the flow here,
        with this Python, and says so once."""
        from .client.sync import SyncClient

        deployment = self.to_deployment(name, **kwargs)
        spec = deployment.spec
        spec["work_pool"] = {"name": work_pool_name, "work_queue_name": work_queue_name}
        if image:
            spec["job_variables"]["image"] = image
            print(f"tocsin: image {image!r} is recorded but not built, pushed or pulled: runs "
                  f"of {self.name}/{name} use this machine's environment ({sys.executable})",
                  file=sys.stderr)
        with SyncClient(socket_path) as client:
            dep = client.deployments.create(spec)
        print(f"deployed {dep['flow_name']}/{dep['name']} ({dep['id']}) to work pool "
              f"{dep['work_pool_name']!r}", flush=True)
        return dep["id"]


class RunnerDeployment:
    """A deployment spec waiting to be served (what `to_deployment` returns)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec["name"]


def flow(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         log_prints: bool = False, description: str | None = None, version: str | None = None,
         retries: int = 0, retry_delay_seconds: float = 0,
         timeout_seconds: float | None = None) -> Any:
    """`@flow` or `@flow(name=..., log_prints=True, retries=2, ...)`."""
    def wrap(f: Callable[..., Any]) -> Flow:
        return Flow(f, name=name, log_prints=log_prints, description=description,
                    version=version, retries=retries, retry_delay_seconds=retry_delay_seconds,
                    timeout_seconds=timeout_seconds)
    return wrap(fn) if fn is not None else wrap


def _trigger_dict(trigger: Any) -> dict[str, Any]:
    if isinstance(trigger, dict):
        return trigger
    if hasattr(trigger, "to_dict"):
        return trigger.to_dict()
    raise TypeError(f"a trigger must be a dict or a Deployment*Trigger, not {type(trigger).__name__}")


def serve(*deployments: RunnerDeployment, socket_path: str | None = None) -> None:
    """Register the deployments (and their triggers) with the daemon, then start each of
    their runs as it falls due, showing their output, until interrupted (Ctrl-C or SIGTERM).
    On the way out the daemon is told: the deployments are not ready until served again."""
    from .client.sync import SyncClient
    from .jobs.launch import spawn

    client = SyncClient(socket_path, timeout=CLAIM_TIMEOUT + 30)
    ids = []
    for d in deployments:
        d.spec["served_by"] = os.getpid()
        ids.append(client.deployments.create(d.spec)["id"])
    names = ", ".join(d.name for d in deployments)
    print(f"Serving {len(deployments)} deployment(s): {names}. Press Ctrl-C to stop.", flush=True)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    echo = _Echo()
    echo.start()
    try:
        while True:
            specs = client.runs.claim(ids, os.getpid(), timeout=CLAIM_TIMEOUT)
            for spec in specs:
                _start(client, spawn, spec, echo)
    except KeyboardInterrupt:
        print("Stopped serving.", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo.stop()
        client.close()  # an interrupted long poll may still be waiting on this connection
        try:
            with SyncClient(socket_path, timeout=5) as last:
                last.runs.claim(ids, os.getpid(), stopping=True)
        except TocsinError as exc:  # the daemon sees the process gone in any case
            print(f"tocsin: could not tell the daemon that serving stopped: {exc}",
                  file=sys.stderr)


class _Echo(threading.Thread):
    """Copies the log files of the runs a `serve` process started to its stdout as they
    grow (as Prefect's serve shows its runs' logs), and says when each process exits."""

    def __init__(self) -> None:
        super().__init__(name="tocsin-serve-echo", daemon=True)
        self._runs: dict[str, tuple[str, str, Any, int]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def add(self, run_id: str, run_name: str, log_path: str, proc: Any) -> None:
        with self._lock:
            self._runs[run_id] = (run_name, log_path, proc, 0)

    def run(self) -> None:
        while not self._stopped.wait(ECHO_EVERY):
            self.copy()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=2)
        self.copy()

    def copy(self) -> None:
        with self._lock:
            runs = list(self._runs.items())
        for run_id, (run_name, log_path, proc, offset) in runs:
            ended = proc.poll() is not None  # before reading, so no line is missed
            try:
                with open(log_path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                chunk = b""
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            with self._lock:
                if ended:
                    del self._runs[run_id]
                else:
                    self._runs[run_id] = (run_name, log_path, proc, offset + len(chunk))
            if ended:
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp} | INFO    | Process for flow run {run_name!r} exited with "
                      f"status code {proc.returncode}", flush=True)


def _start(client: Any, spawn: Callable[[dict[str, Any]], Any], spec: dict[str, Any],
           echo: _Echo) -> None:
    run_id = spec["run_id"]
    try:
        Path(spec["result_path"]).unlink(missing_ok=True)
        proc = spawn(spec)
    except OSError as exc:
        client.runs.set_state(run_id, {"type": "CRASHED",
                                       "message": f"Could not start the run's process: {exc}"})
        return
    echo.add(run_id, spec.get("run_name", run_id), spec["log_path"], proc)
    client.runs.started(run_id, proc.pid)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


__all__ = ["Flow", "RunnerDeployment", "flow", "serve"]
