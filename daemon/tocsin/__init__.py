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


def __getattr__(name: str) -> Any:
    """`from tocsin import flow, serve, Flow` without importing them for `tocsin emit`."""
    if name in ("flow", "serve", "Flow"):
        from . import flows

        return getattr(flows, name)
    raise AttributeError(f"module 'tocsin' has no attribute {name!r}")


__all__ = ["emit_event", "flow", "serve", "Flow", "__version__"]
