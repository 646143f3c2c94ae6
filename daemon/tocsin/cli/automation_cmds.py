"""`tocsin automation apply | ls | inspect | pause | resume | delete | validate | schema`.

Everything but `validate` and `schema` talks to the daemon; those two read files only, so
they work in CI and editors with no daemon running.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .link import client, find_automation
from .output import done, list_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("automation", help="manage automations")
    asub = p.add_subparsers(dest="automation_command", metavar="COMMAND", required=True)
    c = asub.add_parser("apply", help="create or update automations by name from files")
    c.add_argument("-f", "--file", action="append", required=True, metavar="FILE|DIR",
                   help="YAML/JSON file (several automations allowed) or a directory of them")
    c.set_defaults(func=apply)
    c = asub.add_parser("ls", help="list automations")
    c.add_argument("--json", action="store_true", help="print a JSON array of automations")
    c.set_defaults(func=ls)
    c = asub.add_parser("inspect", help="definition, state and live windows of one automation")
    c.add_argument("name")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=inspect)
    for verb, helptext in (("pause", "stop evaluating (window state is kept)"),
                           ("resume", "evaluate again"), ("delete", "delete it and its state")):
        c = asub.add_parser(verb, help=helptext)
        c.add_argument("name")
        c.set_defaults(func=change, verb=verb)
    c = asub.add_parser("validate", help="check files without a daemon; print them as stored")
    c.add_argument("files", nargs="+", metavar="FILE|DIR")
    c.set_defaults(func=validate)
    c = asub.add_parser("schema", help="print the JSON Schema of automation files (for editors)")
    c.set_defaults(func=schema)
    from . import explain_cmds
    from .prefect_cmds import register as register_push_pull

    explain_cmds.register(asub)
    register_push_pull(asub)


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir()
                           if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
            if not found:
                raise InvalidInput([(raw, "folder holds no .yaml, .yml or .json files")])
            out.extend(found)
        else:
            out.append(p)
    return out


def load_all(paths: list[str]) -> list[tuple[Any, str]]:
    """Every automation in the files with its own text, or every error of every file (then
    exit 65)."""
    from ..automations.files import FileError, parse_sourced, read_file

    automations: list[tuple[Any, str]] = []
    problems = []
    for path in _files(paths):
        try:
            automations.extend(parse_sourced(read_file(path), str(path)))
        except FileError as exc:
            problems.append(exc.lines_text())
        except InvalidInput as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        raise _Reported("\n".join(problems))
    dupes = sorted(n for n, k in Counter(a.name for a, _ in automations).items() if k > 1)
    if dupes:
        raise InvalidInput([("name", f"defined more than once: {', '.join(dupes)}")])
    return automations


class _Reported(InvalidInput):
    """Errors already formatted one a line (file:line: path: message)."""

    def __init__(self, text: str) -> None:
        super().__init__([("", text)])
        self.text = text

    def __str__(self) -> str:
        return "invalid automations:\n" + self.text


def validate(args: argparse.Namespace) -> int:
    automations = load_all(args.files)
    print(json.dumps([a.to_dict() for a, _ in automations], indent=2, default=str))
    return 0


def schema(args: argparse.Namespace) -> int:
    from ..automations.schema import automation_schema

    print(json.dumps(automation_schema(), indent=2))
    return 0


def apply(args: argparse.Namespace) -> int:
    """Every automation of the files in one request, each as its own text (which the daemon
    keeps for the next edit): the daemon creates, updates or leaves each by name in one
    transaction (all or nothing)."""
    bodies = [{"yaml": text} for _, text in load_all(args.file)]
    with client(args) as daemon:
        results = daemon.automations.apply(bodies)
    for r in results:
        done(r["result"], "automation", r["name"], r["id"])
    return 0


def ls(args: argparse.Namespace) -> int:
    return list_command(
        args, lambda daemon: daemon.automations.list(), [
            ("NAME", lambda a: a["name"]),
            ("STATE", lambda a: "enabled" if a["enabled"] else "paused"),
            ("TRIGGER", lambda a: a["trigger"]["type"]),
            ("ID", lambda a: a["id"])],
        "no automations (create some with `tocsin automation apply -f FILE`)")


def inspect(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        automation = find_automation(daemon, args.name)
        state = daemon.automations.state(automation["id"])
    if args.json:
        print(json.dumps({"automation": automation, "state": state}, indent=2))
        return 0
    print(_describe(automation, state))
    return 0


def _describe(automation: dict[str, Any], state: dict[str, Any]) -> str:
    lines = [f"{automation['name']}  ({automation['id']})",
             f"  enabled   {automation['enabled']}",
             f"  state     {state['state']}",
             f"  idle TTL  {state['idle_ttl']:.0f} s per window",
             "  trigger"]
    lines += ["    " + line for line in json.dumps(automation["trigger"], indent=2).splitlines()]
    lines.append("  actions   " + ", ".join(a.get("type", "?") for a in automation["actions"]
                                         + automation["actions_on_trigger"]
                                         + automation["actions_on_resolve"]) or "none")
    if not automation["enabled"]:
        lines.append("  paused: no event is evaluated until `tocsin automation resume`")
    buckets = state["buckets"]
    triggers = _triggers_by_id(automation["trigger"])
    if state.get("metric"):
        lines.append("  metric    " + _metric_line(state["metric"]))
    else:
        lines.append(f"  open windows ({len(buckets)})" if buckets else
                     "  open windows: none — " + _waiting_for(automation["trigger"]))
    for b in buckets:
        labels = ", ".join(f"{k}={v!r}" for k, v in b["labels"].items()) or "(one window, no for_each)"
        lines.append(f"    {b['posture']:<9} {labels}: {b['count']}/{b['threshold']} counted, "
                     f"window {b['window_start']} .. {b['window_end']}")
        lines.append(f"              {_verdict(b, triggers.get(b['trigger_id'], {}))}")
    if state.get("held_events"):
        lines.append(f"    {state['held_events']} expected event(s) held, waiting for an "
                     "arming (`after`) event")
    for s in state["composite_slots"]:
        lines.append(f"    child {s['child_trigger_id']} of {s['trigger_id']} fired at {s['at']}")
    firings = state["recent_firings"]
    lines.append(f"  recent firings ({len(firings)})" if firings else "  recent firings: none")
    for f in firings[:10]:
        labels = ", ".join(f"{k}={v}" for k, v in f["triggering_labels"].items())
        due = ", ".join(a.get("type", "?") for a in f["actions"])
        lines.append(f"    {f['at']} {f['state']} {labels} actions: {due or 'none'}")
    misses = state.get("near_misses") or []
    lines.append(f"  recent near-misses ({len(misses)})" if misses else
                 "  recent near-misses: none")
    for m in misses[:10]:
        lines.append(f"    {m['at']} {m['event']} {m['event_id']} on {m['resource']}: "
                     f"{m['trigger']} failed {m['failed']}")
        lines += [f"      {why}" for why in m["why"]]
    return "\n".join(lines)


def _metric_line(m: dict[str, Any]) -> str:
    """A metric trigger's value against its threshold, and where its breach clock stands."""
    value = "no runs to measure yet" if m["value"] is None else f"{m['value']:.4g}"
    line = (f"{m['name']} = {value} over {m['runs_seen']} run(s); fires when "
            f"{m['operator']} {m['threshold']:g}")
    if m["breaching_since"]:
        line += f"; in breach since {m['breaching_since']}"
    if m["recovering_since"]:
        line += f"; out of breach since {m['recovering_since']}"
    return line + ("; triggered (waiting to resolve)" if m["fired"] else "")


def _triggers_by_id(trigger: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {trigger["id"]: trigger}
    for child in trigger.get("triggers", []):
        found.update(_triggers_by_id(child))
    return found


def _waiting_for(trigger: dict[str, Any]) -> str:
    """Why nothing is open, in words (event triggers; composites wait for their children)."""
    if trigger.get("type") != "event":
        return "waiting for its child triggers to fire"
    if trigger.get("after"):
        return f"waiting for an arming event ({', '.join(trigger['after'])})"
    return f"waiting for a first expected event ({', '.join(trigger['expect']) or 'any'})"


def _verdict(bucket: dict[str, Any], trigger: dict[str, Any]) -> str:
    """What has to happen for this window to fire (the "why has it not fired?" answer)."""
    need = bucket["threshold"] - bucket["count"]
    if bucket["posture"] == "Proactive":
        if need > 0:
            return f"fires at {bucket['window_end']} unless {need} more expected event(s) arrive"
        return f"satisfied: will not fire for this window (ends {bucket['window_end']})"
    if not trigger.get("within"):
        return f"fires after {need} more expected event(s) (no time limit)"
    return f"fires after {need} more expected event(s) before {bucket['window_end']}"


def change(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        automation = find_automation(daemon, args.name)
        if args.verb == "delete":
            daemon.automations.delete(automation["id"])
        else:
            daemon.automations.set_enabled(automation["id"], args.verb == "resume")
    done(f"{args.verb}d", "automation", automation["name"], automation["id"])
    return 0
