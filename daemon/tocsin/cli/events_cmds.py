"""`tocsin emit` and `tocsin events ls | tail`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import InvalidInput

EMIT_BATCH = 1000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("emit", help="emit an event (or `-`: JSON events, one a line, from stdin)")
    p.add_argument("name", metavar="EVENT_NAME", help="event name, or - to read JSON lines")
    p.add_argument("--resource", "-r", action="append", default=[], metavar="KEY=VALUE",
                   help="a resource label; prefect.resource.id is required")
    p.add_argument("--related", action="append", default=[], metavar="JSON",
                   help="a related resource (JSON object, or a list of them)")
    p.add_argument("--payload", metavar="JSON", help="the payload (a JSON object)")
    p.add_argument("--id", help="the event id (default: a new uuid7)")
    p.add_argument("--follows", help="id of an event this one follows")
    p.set_defaults(func=emit)

    events = sub.add_parser("events", help="list or follow stored events")
    esub = events.add_subparsers(dest="events_command", metavar="COMMAND", required=True)
    p = esub.add_parser("ls", help="list stored events, newest first")
    _filter_args(p)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--oldest-first", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON array of events")
    p.set_defaults(func=events_ls)
    p = esub.add_parser("tail", help="follow live events")
    _filter_args(p)
    p.add_argument("--backfill", type=int, default=10, help="recent events shown first")
    p.add_argument("--json", action="store_true", help="one JSON event a line")
    p.set_defaults(func=events_tail)


def _filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="ISO 8601 time, or an age such as 15m, 2h, 7d")
    p.add_argument("--until", help="ISO 8601 time, or an age such as 15m")
    p.add_argument("--name", action="append", default=[], metavar="PATTERN",
                   help="event name glob, e.g. 'prefect.flow-run.*' (repeat for any of several)")
    p.add_argument("--resource", "-r", action="append", default=[], metavar="KEY=VALUE",
                   help="resource label pattern (globs, !negation); repeat to require several")


def parse_labels(pairs: list[str], where: str = "--resource") -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput([(where, f"{pair!r} is not KEY=VALUE")])
        labels[key] = value
    return labels


def _json_arg(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput([(where, f"not valid JSON: {exc}")]) from None


def parse_time(text: str | None, where: str) -> str | None:
    """`--since/--until`: an ISO 8601 time (a bare one is local time) or an age like `2h`."""
    if text is None:
        return None
    from ..durations import parse_time as parse

    try:
        return parse(text).isoformat()
    except ValueError as exc:
        raise InvalidInput([(where, str(exc))]) from None


def emit(args: argparse.Namespace) -> int:
    from ..client.sync import SyncClient, build_event, emit_or_spool

    if args.name == "-":
        return _emit_stdin(args)
    related: list[dict[str, str]] = []
    for i, text in enumerate(args.related):
        value = _json_arg(text, f"--related[{i}]")
        related.extend(value if isinstance(value, list) else [value])
    payload = _json_arg(args.payload, "--payload") if args.payload else {}
    event = build_event(args.name, parse_labels(args.resource), related=related,
                        payload=payload, id=args.id, follows=args.follows)
    with SyncClient(args.socket) as client:
        emit_or_spool(client, [event])
    print(event["id"])
    return 0


def _emit_stdin(args: argparse.Namespace) -> int:
    from ..client.sync import SyncClient, emit_or_spool, new_event_id

    sent = spooled = 0
    batch: list[dict[str, Any]] = []
    with SyncClient(args.socket) as client:
        def flush() -> None:
            nonlocal sent, spooled
            if batch:
                if emit_or_spool(client, batch):
                    spooled += len(batch)
                else:
                    sent += len(batch)
                for e in batch:
                    print(e["id"])
                batch.clear()

        for lineno, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            event = _json_arg(line, f"stdin line {lineno}")
            if not isinstance(event, dict):
                raise InvalidInput([(f"stdin line {lineno}", "each line must be one JSON event object")])
            event.setdefault("id", new_event_id())
            batch.append(event)
            if len(batch) >= EMIT_BATCH:
                flush()
        flush()
    said = f"tocsin: emitted {sent} events"
    print(said + (f", spooled {spooled}" if spooled else ""), file=sys.stderr)
    return 0


def _filter_from(args: argparse.Namespace) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if since := parse_time(args.since, "--since"):
        f["since"] = since
    if until := parse_time(args.until, "--until"):
        f["until"] = until
    if args.name:
        f["names"] = args.name
    if args.resource:
        f["resource"] = parse_labels(args.resource)
    return f


def format_line(event: dict[str, Any]) -> str:
    resource = event.get("resource", {})
    name = resource.get("prefect.resource.name")
    rid = resource.get("prefect.resource.id", "")
    occurred = event.get("occurred", "")[:23].replace("T", " ")
    return f"{occurred}  {event.get('event', ''):<36} {rid}" + (f"  ({name})" if name else "")


def events_ls(args: argparse.Namespace) -> int:
    from ..client.sync import SyncClient

    f = _filter_from(args)
    f["limit"] = args.limit
    f["order"] = "oldest" if args.oldest_first else "newest"
    with SyncClient(args.socket) as client:
        page = client.events.filter(**f)
    events = page["events"]
    if args.json:
        print(json.dumps(events, indent=2))
    else:
        for event in events:
            print(format_line(event))
    return 0


def events_tail(args: argparse.Namespace) -> int:
    import asyncio

    from ..client.aio import AsyncClient

    async def follow() -> None:
        async with AsyncClient(args.socket) as client:
            async for event in client.stream(_filter_from(args), backfill=args.backfill):
                print(json.dumps(event) if args.json else format_line(event), flush=True)

    asyncio.run(follow())
    return 0
