"""`tocsin deploy`, `tocsin deployment ...`, `tocsin work-pool ...` and `tocsin work-queue ...`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from .link import client
from .output import done, list_command

if TYPE_CHECKING:
    from ..client.sync import SyncClient


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deploy", help="register the deployments of a project file (tocsin.yaml)")
    p.add_argument("--file", "-f", default=None,
                   help="project file (default: tocsin.yaml, else prefect.yaml)")
    p.add_argument("-n", "--name", action="append", default=[],
                   help="deploy only this deployment (repeatable)")
    p.add_argument("--trigger", action="append", default=[], metavar="JSON|FILE",
                   help="a deployment trigger; replaces the file's triggers (repeatable)")
    p.set_defaults(func=deploy)

    dep = sub.add_parser("deployment", help="list, inspect, run, pause and resume deployments")
    dsub = dep.add_subparsers(dest="deployment_command", metavar="COMMAND", required=True)
    p = dsub.add_parser("ls", help="list deployments")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=deployment_ls)
    for name, func, text in (("inspect", deployment_inspect, "show one deployment as JSON"),
                             ("pause", deployment_pause, "pause its schedules"),
                             ("resume", deployment_resume, "resume its schedules"),
                             ("delete", deployment_delete, "delete it")):
        p = dsub.add_parser(name, help=text)
        p.add_argument("deployment", metavar="NAME", help="deployment name or id")
        p.set_defaults(func=func)
    p = dsub.add_parser("run", help="start a run now")
    p.add_argument("deployment", metavar="NAME", help="deployment name or id")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter (VALUE is read as JSON when it parses, else as text)")
    p.add_argument("--params", metavar="JSON", help="all parameters as one JSON object")
    p.add_argument("--watch", action="store_true", help="wait for the run to finish")
    p.set_defaults(func=deployment_run)

    pool = sub.add_parser("work-pool", help="work pools: list, create, pause, resume")
    psub = pool.add_subparsers(dest="pool_command", metavar="COMMAND", required=True)
    p = psub.add_parser("ls", help="list work pools and their queues")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=pool_ls)
    p = psub.add_parser("create", help="create a work pool (or change its limit)")
    p.add_argument("pool", metavar="NAME")
    p.add_argument("--concurrency-limit", type=int)
    p.set_defaults(func=pool_create)
    for name, paused in (("pause", True), ("resume", False)):
        p = psub.add_parser(name, help=f"{name} dispatch from a work pool")
        p.add_argument("pool", metavar="NAME")
        p.set_defaults(func=pool_set_paused, paused=paused)

    queue = sub.add_parser("work-queue", help="work queues: list, create, pause, resume")
    qsub = queue.add_subparsers(dest="queue_command", metavar="COMMAND", required=True)
    p = qsub.add_parser("ls", help="list work queues")
    p.add_argument("--pool", help="only this pool's queues (default: every pool's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=queue_ls)
    p = qsub.add_parser("create", help="create a work queue (or change it)")
    p.add_argument("queue", metavar="NAME")
    p.add_argument("--pool", default="default")
    p.add_argument("--priority", type=int)
    p.add_argument("--concurrency-limit", type=int)
    p.set_defaults(func=queue_create)
    for name, paused in (("pause", True), ("resume", False)):
        p = qsub.add_parser(name, help=f"{name} dispatch from a work queue")
        p.add_argument("queue", metavar="NAME")
        p.add_argument("--pool", default="default")
        p.set_defaults(func=queue_set_paused, paused=paused)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# -- deploy ----------------------------------------------------------------------------------
def default_project_file() -> str:
    """tocsin.yaml in the current directory, else Prefect's prefect.yaml (so a Prefect project
    deploys as it is)."""
    return next((n for n in ("tocsin.yaml", "prefect.yaml") if Path(n).exists()), "tocsin.yaml")


def deploy(args: argparse.Namespace) -> int:
    from ..jobs.project import load_project, read_triggers

    args.file = args.file or default_project_file()
    specs = load_project(Path(args.file))
    if args.name:
        known = {s["name"] for s in specs}
        missing = [n for n in args.name if n not in known]
        if missing:
            raise InvalidInput([("-n", (f"{args.file} has no deployment named {', '.join(missing)}"
                                       f" (it has: {', '.join(sorted(known))})"))])
        specs = [s for s in specs if s["name"] in args.name]
    if args.trigger:
        triggers = read_triggers(args.trigger)
        for spec in specs:
            spec["triggers"] = triggers
    with client(args) as daemon:
        for spec in specs:
            dep = daemon.deployments.create(spec)
            done("deployed", "deployment", f"{dep['flow_name']}/{dep['name']}", dep["id"])
    return 0


# -- deployments -----------------------------------------------------------------------------
def _schedule_text(dep: dict[str, Any]) -> str:
    return ", ".join(_one_schedule(s) for s in dep.get("schedules", [])) or "-"


def _one_schedule(s: dict[str, Any]) -> str:
    if s.get("cron"):
        return f"cron {s['cron']} {s['timezone']}"
    if s.get("rrule"):
        return f"rrule {s['rrule']} {s['timezone']}"
    return f"every {s['interval']}s"


def deployment_ls(args: argparse.Namespace) -> int:
    return list_command(args, lambda daemon: daemon.deployments.list(), [
        ("DEPLOYMENT", lambda d: f"{d['flow_name']}/{d['name']}"),
        ("STATUS", lambda d: d["status"] + (" [paused]" if d["paused"] else "")),
        ("RUNS ON", lambda d: f"served (pid {d['served_by']})" if d.get("served_by")
         else f"{d['work_pool_name']}/{d['work_queue_name']}"),
        ("SCHEDULES", _schedule_text)],
        "no deployments (register some with `tocsin deploy`)")


def deployment_inspect(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        _print_json(daemon.deployments.get(args.deployment))
    return 0


def deployment_pause(args: argparse.Namespace) -> int:
    return _pause_or_resume(args, pause=True)


def deployment_resume(args: argparse.Namespace) -> int:
    return _pause_or_resume(args, pause=False)


def _pause_or_resume(args: argparse.Namespace, pause: bool) -> int:
    with client(args) as daemon:
        change = daemon.deployments.pause if pause else daemon.deployments.resume
        dep = change(args.deployment)
    done("paused" if pause else "resumed", "deployment", f"{dep['flow_name']}/{dep['name']}",
         dep["id"])
    return 0


def deployment_delete(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        daemon.deployments.delete(args.deployment)
    done("deleted", "deployment", args.deployment)
    return 0


def parse_params(pairs: list[str], params_json: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_json:
        try:
            params = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise InvalidInput([("--params", f"not valid JSON: {exc}")]) from None
        if not isinstance(params, dict):
            raise InvalidInput([("--params", "must be a JSON object")])
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput([("-p", f"{pair!r} is not KEY=VALUE")])
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def deployment_run(args: argparse.Namespace) -> int:
    import time

    parameters = parse_params(args.param, args.params)
    with client(args) as daemon:
        run = daemon.deployments.run(args.deployment, parameters)
        done("created", "flow run", run["name"], run["id"])
        if not args.watch:
            return 0
        while run["state"]["type"] not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            time.sleep(0.2)
            run = daemon.runs.get(run["id"])
    print(f"{run['name']}: {run['state']['name']}"
          + (f" - {run['state']['message']}" if run["state"]["message"] else ""))
    return 0 if run["state"]["type"] == "COMPLETED" else 1


# -- work pools and queues -------------------------------------------------------------------
def _limit(item: dict[str, Any]) -> str:
    return "none" if item["concurrency_limit"] is None else str(item["concurrency_limit"])


def pool_ls(args: argparse.Namespace) -> int:
    return list_command(args, _pools_with_queues, [
        ("POOL", lambda p: p["name"]), ("STATUS", lambda p: p["status"]), ("LIMIT", _limit),
        ("QUEUES", lambda p: ", ".join(q["name"] for q in p["queues"]))],
        "no work pools")


def _pools_with_queues(daemon: SyncClient) -> list[dict[str, Any]]:
    """Every work pool, each with its `queues`."""
    return [{**pool, "queues": daemon.work_pools.queues(pool["name"])}
            for pool in daemon.work_pools.list()]


def queue_ls(args: argparse.Namespace) -> int:
    def queues(daemon: SyncClient) -> list[dict[str, Any]]:
        pools = [args.pool] if args.pool else [p["name"] for p in daemon.work_pools.list()]
        return [q for pool in pools for q in daemon.work_pools.queues(pool)]

    return list_command(args, queues, [
        ("POOL", lambda q: q["work_pool_name"]), ("QUEUE", lambda q: q["name"]),
        ("STATUS", lambda q: q["status"]), ("PRIORITY", lambda q: q["priority"]),
        ("LIMIT", _limit)], "no work queues")


def pool_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.pool}
    if args.concurrency_limit is not None:  # run again without it, an existing limit stays
        body["concurrency_limit"] = args.concurrency_limit
    with client(args) as daemon:
        pool = daemon.work_pools.create(body)
    done("saved", "work pool", pool["name"], pool["id"])  # created, or its limit changed
    return 0


def pool_set_paused(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        pool = daemon.work_pools.set_paused(args.pool, args.paused)
    done("paused" if args.paused else "resumed", "work pool", pool["name"], pool["id"])
    return 0


def queue_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.queue}
    if args.concurrency_limit is not None:
        body["concurrency_limit"] = args.concurrency_limit
    if args.priority is not None:
        body["priority"] = args.priority
    with client(args) as daemon:
        q = daemon.work_pools.create_queue(args.pool, body)
    done("saved", "work queue", f"{q['work_pool_name']}/{q['name']}", q["id"])
    return 0


def queue_set_paused(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        q = daemon.work_pools.set_queue_paused(args.pool, args.queue, args.paused)
    done("paused" if args.paused else "resumed", "work queue",
         f"{q['work_pool_name']}/{q['name']}", q["id"])
    return 0

