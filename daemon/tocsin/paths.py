"""Where tocsin keeps things by default. Standard library only: emitters import it."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """$TOCSIN_HOME, else $XDG_STATE_HOME/tocsin (~/.local/state/tocsin)."""
    if env := os.environ.get("TOCSIN_HOME"):
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "tocsin"


def default_socket(home: Path | None = None) -> Path:
    """$TOCSIN_SOCKET, else $XDG_RUNTIME_DIR/tocsin/tocsin.sock, else the home directory's."""
    if env := os.environ.get("TOCSIN_SOCKET"):
        return Path(env)
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(runtime) / "tocsin" / "tocsin.sock"
    return (home or default_home()) / "tocsin.sock"
