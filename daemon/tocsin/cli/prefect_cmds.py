"""`tocsin automation push --to URL [NAME...]` and `tocsin automation pull --from URL [NAME...]`:
automations to and from a Prefect server, created or updated by name (see prefect/transfer.py
for what is mapped and what is refused). Each automation is reported on its own line; the
exit code is 1 when any was refused."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import TocsinError
from .link import apply_one, client
from .output import done

if TYPE_CHECKING:
    from ..prefect.wire import Credentials


def register(asub: argparse._SubParsersAction) -> None:
    """Adds `push` and `pull` to `tocsin automation`."""
    for verb, flag, helptext in (
            ("push", "--to", "create or update automations by name on a Prefect server"),
            ("pull", "--from", "create or update automations by name from a Prefect server")):
        c = asub.add_parser(verb, help=helptext)
        c.add_argument(flag, dest="url", required=True, metavar="URL",
                       help="the Prefect API URL, e.g. http://prefect.example:4200/api")
        c.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all)")
        auth = c.add_mutually_exclusive_group()
        auth.add_argument("--api-key-env", metavar="VAR",
                          help="environment variable holding a Prefect Cloud API key (sent as "
                               "Bearer)")
        auth.add_argument("--auth-string-env", metavar="VAR",
                          help="environment variable holding the auth string of a self-hosted "
                               "server (PREFECT_SERVER_API_AUTH_STRING; sent as HTTP Basic). "
                               "Without either flag: PREFECT_API_AUTH_STRING if set, else "
                               "PREFECT_API_KEY, as Prefect's client does")
        c.add_argument("--json", action="store_true",
                       help="print a JSON array of {name, result, reason}")
        c.set_defaults(func=push if verb == "push" else pull)


def _selected(automations: list[dict[str, Any]], names: list[str], where: str
              ) -> list[dict[str, Any]]:
    if not names:
        return automations
    known = {a["name"] for a in automations}
    missing = [n for n in names if n not in known]
    if missing:
        raise TocsinError(f"no automation named {', '.join(map(repr, missing))} {where}")
    return [a for a in automations if a["name"] in names]


def _report(args: argparse.Namespace, results: list[dict[str, str | None]]) -> int:
    if args.json:
        print(json.dumps(results, indent=2))
    for r in results:
        if r["result"] == "refused":
            print(f"tocsin: {r['name']}: refused: {r['reason']}", file=sys.stderr)
        elif not args.json:
            done(str(r["result"]), "automation", str(r["name"]), r["id"])
    return 1 if any(r["result"] == "refused" for r in results) else 0


def _credentials(args: argparse.Namespace) -> Credentials:
    """The flag's variable (which must be set), else Prefect's own two variables."""
    from ..prefect.wire import Credentials, from_env

    if args.api_key_env or args.auth_string_env:
        return Credentials(from_env(args.api_key_env, "--api-key-env", "command line"),
                           from_env(args.auth_string_env, "--auth-string-env", "command line"))
    auth_string = os.environ.get("PREFECT_API_AUTH_STRING") or None
    return Credentials(None if auth_string else os.environ.get("PREFECT_API_KEY") or None,
                       auth_string)


def push(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        mine = _selected(daemon.automations.list(), args.names,
                         "in tocsin (see `tocsin automation ls`)")
        local_blocks = {b["id"]: b["name"] for b in daemon.blocks.list()}
    return _report(args, asyncio.run(_push(args, mine, local_blocks)))


async def _push(args: argparse.Namespace, mine: list[dict[str, Any]],
                local_blocks: dict[str, str]) -> list[dict[str, str | None]]:
    from ..prefect.transfer import Refused, duplicated, for_prefect, is_cloud
    from ..prefect.wire import PrefectError, PrefectWire

    results: list[dict[str, str | None]] = []
    async with PrefectWire(args.url, _credentials(args)) as wire:
        theirs = await wire.automations()
        blocks = {d["name"]: d["id"] for d in await wire.block_documents() if d.get("name")}
        twice = duplicated([a["name"] for a in theirs])
        by_name = {a["name"]: a for a in theirs}
        for automation in mine:
            name = automation["name"]
            try:
                if name in twice:
                    raise Refused(f"the Prefect server holds several automations named "
                                  f"{name!r}; rename or delete all but one there (not merged)")
                body = for_prefect(automation, blocks, local_blocks, is_cloud(args.url))
                existing = by_name.get(name)
                if existing is None:
                    made = await wire.create_automation(body)
                    results.append({"name": name, "result": "created", "id": made["id"],
                                    "reason": None})
                else:
                    body.pop("owner_resource", None)  # Prefect's update does not take it
                    await wire.update_automation(existing["id"], body)
                    results.append({"name": name, "result": "updated", "id": existing["id"],
                                    "reason": None})
            except Refused as exc:
                results.append({"name": name, "result": "refused", "id": None,
                                "reason": str(exc)})
            except PrefectError as exc:
                if exc.status is None:
                    raise
                results.append({"name": name, "result": "refused", "id": None,
                                "reason": f"the Prefect server refused it: {exc}"})
    return results


def pull(args: argparse.Namespace) -> int:
    from ..errors import ApiError
    from ..prefect.transfer import Refused, duplicated, for_tocsin

    theirs, block_names = asyncio.run(_read_prefect(args))
    twice = duplicated([a["name"] for a in theirs])
    results: list[dict[str, str | None]] = []
    with client(args) as daemon:
        local_blocks = {b["name"] for b in daemon.blocks.list()}
        for automation in _selected(theirs, args.names, "on the Prefect server"):
            name = automation["name"]
            if name in twice and any(r["name"] == name for r in results):
                continue
            try:
                if name in twice:
                    raise Refused(f"the Prefect server holds several automations named "
                                  f"{name!r}; rename or delete all but one there (not merged)")
                body = for_tocsin(automation, block_names, local_blocks)
                result, stored = apply_one(daemon, body)
                results.append({"name": name, "result": result, "id": stored["id"],
                                "reason": None})
            except Refused as exc:
                results.append({"name": name, "result": "refused", "id": None,
                                "reason": str(exc)})
            except ApiError as exc:
                results.append({"name": name, "result": "refused", "id": None,
                                "reason": f"tocsin refused it: {exc}"})
    return _report(args, results)


async def _read_prefect(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, str]]:
    from ..prefect.wire import PrefectWire

    async with PrefectWire(args.url, _credentials(args)) as wire:
        automations = await wire.automations()
        names = {d["id"]: d["name"] for d in await wire.block_documents() if d.get("name")}
    return automations, names
