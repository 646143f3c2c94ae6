"""The `tocsin` command. Parsing only here; each command group lives in its own module and
imports what it needs when it runs, so `tocsin emit` never pays for the daemon's libraries."""

from __future__ import annotations

import argparse
import sys

from ..errors import TocsinError
from . import (
    automation_cmds,
    block_cmds,
    daemon_cmds,
    deploy_cmds,
    events_cmds,
    replay_cmd,
    run_cmds,
    template_cmds,
    webhook_cmds,
)

# Each module contributes `register(subparsers)`; helpers add theirs to this list.
COMMAND_GROUPS = [daemon_cmds, events_cmds, deploy_cmds, run_cmds, block_cmds, template_cmds,
                  automation_cmds, replay_cmd, webhook_cmds]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tocsin",
        description="Prefect-style event automations on your own machine. "
        "With no command, opens the dashboard.",
    )
    parser.add_argument("--socket", help="daemon socket (default: $TOCSIN_SOCKET, "
                        "else $XDG_RUNTIME_DIR/tocsin/tocsin.sock)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    _accept_socket_everywhere(sub)
    return parser


def _accept_socket_everywhere(sub: argparse._SubParsersAction) -> None:
    """`--socket` works before or after any command (`tocsin daemon --socket P`)."""
    for parser in sub.choices.values():
        if not any("--socket" in a.option_strings for a in parser._actions):
            parser.add_argument("--socket", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_socket_everywhere(action)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        from .tui_cmd import run_tui

        func = run_tui
    try:
        code = func(args)
    except TocsinError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
