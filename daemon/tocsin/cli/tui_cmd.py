"""`tocsin` with no command: the dashboard (the TUI package is imported only here)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

NO_TERMINAL = ("tocsin: the dashboard needs a terminal on stdin and stdout, and {what} is not "
               "one. From scripts and pipes use the commands instead: `tocsin events ls`, "
               "`tocsin events tail`, `tocsin automation ls`, `tocsin run ls` "
               "(`tocsin --help` lists them all).")


def missing_terminal(stdin: TextIO, stdout: TextIO) -> str | None:
    """Which of stdin/stdout is not a terminal (None when both are).

    Without this, `tocsin > file` writes escape codes into the file and never exits, and
    `echo foo | tocsin tui` types "foo" into the filter.
    """
    for what, stream in (("stdin", stdin), ("stdout", stdout)):
        try:
            if not stream.isatty():
                return what
        except (AttributeError, ValueError):  # closed or replaced by something without a fd
            return what
    return None


def run_tui(args: argparse.Namespace) -> int:
    missing = missing_terminal(sys.stdin, sys.stdout)
    if missing is not None:
        print(NO_TERMINAL.format(what=missing), file=sys.stderr)
        return 2
    from tocsin_tui.app import run

    return run(socket_path=getattr(args, "socket", None))
