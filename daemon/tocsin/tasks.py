"""`@task`, as in Prefect: call it, `.submit()` it or `.map()` it over lists; futures have
`.result()` and `.wait()`; `retries` and `retry_delay_seconds` retry a failing call.

A task run is a function call with its own name in the log (`Task run 'fetch-3f2'`), in the
flow's process: submitted runs go to a thread pool, each in a copy of the caller's context
so its log lines and `get_run_logger()` work. Task runs are not recorded by the daemon (no
`prefect.task-run.*` events); the flow run that calls them is.
"""

from __future__ import annotations

import contextvars
import functools
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .flow_runs import RunContext, current, log_line

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(thread_name_prefix="tocsin-task")
    return _pool


def call_with_retries(fn: Callable[[], Any], retries: int, delay: float,
                      on_retry: Callable[[int, BaseException], None]) -> Any:
    """`fn()`, tried again up to `retries` times after an exception, `delay` seconds apart."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == retries:
                raise
            on_retry(attempt + 1, exc)
            time.sleep(delay)
    raise AssertionError("unreachable")


class TaskFuture:
    """What `.submit()` returns: `.result()` waits and returns the value (or raises)."""

    def __init__(self, future: Future[Any], name: str) -> None:
        self._future = future
        self.task_run_name = name

    def result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout)

    def wait(self, timeout: float | None = None) -> None:
        self._future.exception(timeout)

    def __repr__(self) -> str:
        return f"TaskFuture({self.task_run_name!r})"


class TaskFutureList(list):
    """What `.map()` returns: a list of futures; `.result()` gives the list of values."""

    def result(self, timeout: float | None = None) -> list[Any]:
        return [f.result(timeout) for f in self]

    def wait(self, timeout: float | None = None) -> None:
        for f in self:
            f.wait(timeout)


def _resolve(value: Any) -> Any:
    """A future passed to a task is its value, as in Prefect."""
    return value.result() if isinstance(value, TaskFuture) else value


class Task:
    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, retries: int = 0,
                 retry_delay_seconds: float = 0) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        functools.update_wrapper(self, fn)

    def with_options(self, **changes: Any) -> Task:
        options = {"name": self.name, "retries": self.retries,
                   "retry_delay_seconds": self.retry_delay_seconds}
        return Task(self.fn, **{**options, **changes})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_resolve(a) for a in args)
        kwargs = {k: _resolve(v) for k, v in kwargs.items()}
        parent = current.get()
        ctx = RunContext("Task run", f"{self.name}-{secrets.token_hex(2)[:3]}",
                         parent.log_file if parent else None)

        def retry(attempt: int, exc: BaseException) -> None:
            log_line(ctx, "ERROR", f"Task run failed with exception: {exc!r} - Retry "
                                   f"{attempt}/{self.retries} will start "
                                   f"{self.retry_delay_seconds} second(s) from now")

        token = current.set(ctx)
        try:
            value = call_with_retries(lambda: self.fn(*args, **kwargs), self.retries,
                                      self.retry_delay_seconds, retry)
        except Exception as exc:
            log_line(ctx, "ERROR", f"Finished in state Failed('Task run encountered an "
                                   f"exception {type(exc).__name__}: {exc}')")
            raise
        finally:
            current.reset(token)
        log_line(ctx, "INFO", "Finished in state Completed()")
        return value

    def submit(self, *args: Any, **kwargs: Any) -> TaskFuture:
        """Run in the background; the future's `.result()` is the return value."""
        context = contextvars.copy_context()
        future = _executor().submit(context.run, self, *args, **kwargs)
        return TaskFuture(future, self.name)

    def map(self, *args: Any, **kwargs: Any) -> TaskFutureList:
        """One submitted run per item: list and tuple arguments are iterated together, the
        others passed to every run as they are."""
        mapped = [a for a in (*args, *kwargs.values()) if isinstance(a, (list, tuple))]
        if not mapped:
            raise TypeError(f"{self.name}.map() needs at least one list or tuple argument")
        count = min(len(a) for a in mapped)

        def item(value: Any, i: int) -> Any:
            return value[i] if isinstance(value, (list, tuple)) else value

        return TaskFutureList(
            self.submit(*(item(a, i) for a in args), **{k: item(v, i) for k, v in kwargs.items()})
            for i in range(count))


def task(fn: Callable[..., Any] | None = None, *, name: str | None = None, retries: int = 0,
         retry_delay_seconds: float = 0) -> Any:
    """`@task` or `@task(name=..., retries=2, retry_delay_seconds=1)`."""
    def wrap(f: Callable[..., Any]) -> Task:
        return Task(f, name=name, retries=retries, retry_delay_seconds=retry_delay_seconds)
    return wrap(fn) if fn is not None else wrap


__all__ = ["Task", "TaskFuture", "TaskFutureList", "task"]
