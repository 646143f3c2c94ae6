"""`tocsin automation explain [NAME] --event ID|FILE [--json]` and
`tocsin automation trace NAME [--last N] [--json]`: why it fired, and why it did not.

The daemon does the work (its engine's own matching code); this module asks and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .link import client, find_automation


def register(asub: argparse._SubParsersAction) -> None:
    c = asub.add_parser("explain", help="why an event did or did not count, per trigger")
    c.add_argument("name", nargs="?", help="the automation (default: every one that came close)")
    c.add_argument("--event", required=True, metavar="ID|FILE",
                   help="a stored event's id, or a JSON/YAML file holding an event")
    c.add_argument("--json", action="store_true", help="print the explanation as JSON")
    c.set_defaults(func=explain)
    c = asub.add_parser("trace", help="recent firings: what counted, state change, actions")
    c.add_argument("name")
    c.add_argument("--last", type=int, default=5, metavar="N", help="how many (default 5)")
    c.add_argument("--json", action="store_true", help="print a JSON array of traces")
    c.set_defaults(func=trace)


def event_body(value: str) -> dict[str, Any]:
    """`{"event_id": ...}` for an id, the event itself for a file."""
    if not Path(value).exists() and value != "-":
        return {"event_id": value}
    import msgspec

    from .template_cmds import _load_event  # the same reading (JSON or YAML) and checks

    return msgspec.to_builtins(_load_event(value))


def explain(args: argparse.Namespace) -> int:
    body = event_body(args.event)
    with client(args) as daemon:
        if args.name:
            automation = find_automation(daemon, args.name)
            docs = [daemon.automations.explain(body, automation["id"])]
        else:
            docs = daemon.automations.explain(body)
    if args.json:
        print(json.dumps(docs if not args.name else docs[0], indent=2))
        return 0
    if not docs:
        print("no automation came close: no trigger expects this name or matches this "
              "resource, and none is off by case, whitespace or one edit")
    print("\n\n".join(explanation_text(doc) for doc in docs))
    return 0


def explanation_text(doc: dict[str, Any]) -> str:
    ev = doc["event"]
    lines = [f"{doc['automation']}: {doc['outcome']}",
             f"  event {ev['event']} {ev['id']} on {ev['resource']} (occurred {ev['occurred']}),"
             f" tried at {doc['at']}"]
    for t in doc["triggers"]:
        lines.append(f"  {t['path']} ({t['posture']}): {t['outcome']}")
        lines.append("    expect     " + _names(t["expect"]))
        if t["after"] is not None:
            armed = t["armed"] or {}
            state = (f"armed since {armed['since']}" + (f" by {armed['by']}" if armed.get("by")
                                                         else "")
                     if armed.get("armed") else "not armed")
            lines.append(f"    after      {_names(t['after'])}; {state}")
        for label in t["match"]:
            lines.append(f"    match      {_label(label)}")
        for spec in t["match_related"]:
            lines.append(f"    related    role {spec['role']}: {'ok' if spec['ok'] else 'FAILED'}")
            lines += [f"               {_label(label)}" for label in spec["labels"]]
        if t["for_each"]:
            bucket = ", ".join(f"{k}={v!r}" for k, v in t["for_each"].items())
            lines.append(f"    for_each   bucket {bucket}")
        window = t["window_after"] or t["window"]
        if window is not None:
            lines.append(f"    window     {window['count']} of {window['threshold']}, "
                         f"{window['start']} .. {window['end']}")
    for node in doc["composites"]:
        lines.append(f"  {node['path']} ({node['type']}, {node['require']} of {node['of']}): "
                     f"had {len(node['had'])}, would have {len(node['has'])}")
    return "\n".join(lines)


def _names(verdict: dict[str, Any]) -> str:
    wanted = ", ".join(verdict["patterns"]) or "(any name)"
    text = f"{'ok' if verdict['ok'] else 'FAILED'}: wanted {wanted}, got {verdict['got']}"
    if "nearest" in verdict:
        text += f" (nearest: {verdict['nearest']}, differs by {verdict['differs_by']})"
    return text


def _label(label: dict[str, Any]) -> str:
    got = "(missing)" if label["got"] is None else label["got"]
    text = f"{label['label']}: {'ok' if label['ok'] else 'FAILED'} wanted {label['wanted']}, got {got}"
    if "nearest" in label:
        text += f" (nearest: {label['nearest']}, differs by {label['differs_by']})"
    return text


def trace(args: argparse.Namespace) -> int:
    if args.last < 1:
        raise InvalidInput([("--last", "must be 1 or more")])
    with client(args) as daemon:
        automation = find_automation(daemon, args.name)
        docs = daemon.automations.traces(automation["id"], args.last)
    if args.json:
        print(json.dumps(docs, indent=2))
        return 0
    if not docs:
        print(f"{args.name} has no firings on record (they are kept as long as events)")
    print("\n\n".join(trace_text(doc) for doc in docs))
    return 0


def trace_text(doc: dict[str, Any]) -> str:
    change = doc["state_change"]
    lines = [f"{doc['at']} {doc['automation']} {change['from']} -> {change['to']}"
             f"  (firing {doc['firing_id']})"]
    for part in doc["trigger"]:
        bucket = ", ".join(f"{k}={v}" for k, v in part["bucket"].items())
        window = part["window"]
        where = f" window {window['start']} .. {window['end']}" if window else ""
        lines.append(f"  {part['path']} {part['state']}{' bucket ' + bucket if bucket else ''}"
                     f"{where}")
        lines += [f"    counted {e['event']} {e['id']} on {e['resource']} at {e['occurred']}"
                  for e in part["events"]]
    for action in doc["actions"]:
        target = ", ".join(action.get("target") or []) or "-"
        lines.append(f"  action {action['index']} {action['type']} -> {target}: "
                     f"{action['status']}")
        for key, value in (action.get("rendered") or {}).items():
            lines.append(f"    {key}: {json.dumps(value) if not isinstance(value, str) else value}")
        for attempt in action.get("attempts") or []:
            error = f": {attempt['error']}" if attempt.get("error") else ""
            lines.append(f"    attempt {attempt['attempt']} at {attempt['at']} "
                         f"{attempt['result']}{error}")
    return "\n".join(lines)
