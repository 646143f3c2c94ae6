"""The `tocsin` command. Parsing only here; each command group lives in its own module and
imports what it needs when it runs, so `tocsin emit` never pays for the daemon's libraries."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import TocsinError

# Top-level command -> the module that registers it (`register(subparsers)`). Only the module
# of the command being run is imported and registered: building every subparser costs
# ~15 ms, a fifth of `tocsin emit`'s budget. `tocsin --help` and typos build them all.
COMMANDS = {
    "daemon": "daemon_cmds", "status": "daemon_cmds", "tui": "daemon_cmds",
    "emit": "events_cmds", "events": "events_cmds",
    "automation": "automation_cmds", "replay": "replay_cmd",
    "block": "block_cmds", "template": "template_cmds",
    "webhook": "webhook_cmds",
    "deploy": "deploy_cmds", "deployment": "deploy_cmds",
    "work-pool": "deploy_cmds", "work-queue": "deploy_cmds", "run": "run_cmds",
    "completion": "completion_cmd",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tocsin",
        description="Prefect-style event automations on your own machine. "
        "With no command, opens the dashboard.",
    )
    parser.add_argument("--socket", help="daemon socket (default: $TOCSIN_SOCKET, "
                        "else $XDG_RUNTIME_DIR/tocsin/tocsin.sock)")
    parser.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"{__package__}.{name}").register(sub)
    _accept_socket_everywhere(sub)
    return parser


def command_of(argv: list[str]) -> str | None:
    """The command word in argv (skipping `--socket PATH`), without parsing the rest."""
    args = iter(argv)
    for arg in args:
        if arg == "--socket":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _accept_socket_everywhere(sub: argparse._SubParsersAction) -> None:
    """`--socket` works before or after any command (`tocsin daemon --socket P`)."""
    for parser in sub.choices.values():
        if not any("--socket" in a.option_strings for a in parser._actions):
            parser.add_argument("--socket", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_socket_everywhere(action)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(command_of(argv)).parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        from .tui_cmd import run_tui

        func = run_tui
    try:
        code = func(args)
    except TocsinError as exc:  # exits with the code errors.py gives the error's class
        print(f"tocsin: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
