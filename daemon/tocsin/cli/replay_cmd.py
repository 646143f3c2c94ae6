"""`tocsin replay`: run automations over a recorded timeline, with no daemon (DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from ..errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run automations over recorded events, executing nothing")
    p.add_argument("--automations", required=True, metavar="FILE",
                   help="automations (YAML or JSON; several per file allowed)")
    p.add_argument("--events", required=True, metavar="FILE.jsonl",
                   help="events, one JSON object a line")
    p.add_argument("--since", help="ISO 8601 or an age like 2h: when the automations start to "
                   "exist (default: the first event's time)")
    p.add_argument("--until", help="ISO 8601 or an age like 2h: when virtual time stops "
                   "(default: the last event's)")
    p.add_argument("--explain", action="store_true",
                   help="print each state change's trace (what counted, where in the trigger "
                   "tree, the actions as they would run) instead of the one-line record")
    p.set_defaults(func=run_replay)


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time (a bare one is UTC, as recorded events are) or an age like `2h`."""
    if value is None:
        return None
    from ..durations import parse_time as parse

    try:
        return parse(value, naive=UTC)
    except ValueError as exc:
        raise InvalidInput([(option, str(exc))]) from None


def run_replay(args: argparse.Namespace) -> int:
    from ..automations.files import FileError, parse_file
    from ..automations.replay import read_events, replay

    try:
        automations = parse_file(args.automations)
    except FileError as exc:
        print(exc.lines_text(), file=sys.stderr)
        return exc.exit_code
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    events = read_events(args.events)
    notices: list[str] = []
    out = sys.stdout
    for record in replay(automations, events, since, until, notices, explain=args.explain):
        out.write(json.dumps(record, default=str) + "\n")
    for notice in notices:
        print(f"tocsin replay: {notice}", file=sys.stderr)
    out.flush()
    return 0
