"""tocsin: Prefect-style event automations on your own machine.

Kept light on purpose: `import tocsin` must not pull in the daemon's dependencies, so that
`tocsin emit` and `emit_event` start fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def emit_event(*args: Any, **kwargs: Any) -> Any:
    """Emit one event to the local daemon (Prefect's signature); see tocsin.client.emit_event."""
    from .client import emit_event as _emit

    return _emit(*args, **kwargs)


_LAZY = {"flow": "flows", "serve": "flows", "Flow": "flows", "task": "tasks", "Task": "tasks",
         "get_run_logger": "flow_runs"}


def __getattr__(name: str) -> Any:
    """`from tocsin import flow, task, get_run_logger, serve` (Prefect's names) without
    importing them for `tocsin emit`."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'tocsin' has no attribute {name!r}")


__all__ = ["emit_event", "flow", "serve", "Flow", "task", "Task", "get_run_logger",
           "__version__"]
