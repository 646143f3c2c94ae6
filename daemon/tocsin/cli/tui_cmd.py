"""`tocsin` with no command: the dashboard (the TUI package is imported only here)."""

from __future__ import annotations

import argparse


def run_tui(args: argparse.Namespace) -> int:
    from tocsin_tui.app import run

    return run(socket_path=getattr(args, "socket", None))
