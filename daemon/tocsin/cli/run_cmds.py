"""`tocsin run ls | inspect | logs | cancel | suspend | resume`: flow runs."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .link import client
from .output import list_command


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="flow runs: list, inspect, logs, cancel, suspend, resume")
    rsub = run.add_subparsers(dest="run_command", metavar="COMMAND", required=True)
    p = rsub.add_parser("ls", help="list flow runs, newest first")
    p.add_argument("--deployment", help="only runs of this deployment")
    p.add_argument("--state", help="only runs in this state (name or type)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print a JSON array of runs")
    p.set_defaults(func=run_ls)
    p = rsub.add_parser("inspect", help="show one run as JSON")
    p.add_argument("run", metavar="ID", help="run id (a unique prefix will do) or name")
    p.set_defaults(func=run_inspect)
    p = rsub.add_parser("logs", help="print a run's output")
    p.add_argument("run", metavar="ID")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")
    p.set_defaults(func=run_logs)
    for name, text in (("cancel", "cancel a run (its processes are stopped)"),
                       ("suspend", "suspend a running run (its processes are stopped in place)"),
                       ("resume", "resume a suspended run")):
        p = rsub.add_parser(name, help=text)
        p.add_argument("run", metavar="ID")
        p.set_defaults(func=run_action, action=name)


def run_ls(args: argparse.Namespace) -> int:
    return list_command(args, lambda daemon: daemon.runs.list(args.limit, args.deployment,
                                                              args.state), [
        ("ID", lambda r: r["id"][:8]), ("NAME", lambda r: r["name"]),
        ("STATE", lambda r: r["state"]["name"]),
        ("DEPLOYMENT", lambda r: f"{r['flow_name']}/{r.get('deployment_name') or '-'}"),
        ("STARTED", lambda r: (r.get("start_time") or r["expected_start_time"])[:19]
         .replace("T", " "))], "no flow runs")


def run_inspect(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        print(json.dumps(daemon.runs.get(args.run), indent=2))
    return 0


def run_logs(args: argparse.Namespace) -> int:
    offset = 0
    with client(args) as daemon:
        while True:
            chunk = daemon.runs.logs(args.run, offset)
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
            offset = chunk["offset"]
            if not args.follow or (not chunk["text"] and chunk["state"] in
                                   ("Completed", "Failed", "Crashed", "Cancelled")):
                return 0
            if not chunk["text"]:
                time.sleep(0.3)


def run_action(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        run = getattr(daemon.runs, args.action)(args.run)
    print(f"{run['name']}: {run['state']['name']}")
    return 0
