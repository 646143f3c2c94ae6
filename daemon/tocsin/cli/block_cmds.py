"""`tocsin block create | ls | delete`: named notification and webhook targets."""

from __future__ import annotations

import argparse

from ..errors import InvalidInput
from .link import client
from .output import done, list_command


def register(sub: argparse._SubParsersAction) -> None:
    block = sub.add_parser("block", help="notification and webhook targets actions send to")
    bsub = block.add_subparsers(dest="block_command", metavar="COMMAND", required=True)

    p = bsub.add_parser("create", help="make a notification block (--url) or a webhook "
                                       "block (--webhook)")
    p.add_argument("name", metavar="NAME")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--url", action="append", metavar="APPRISE_URL",
                      help="an apprise URL (repeat for several targets)")
    kind.add_argument("--webhook", metavar="URL", help="the URL webhook calls go to")
    p.add_argument("--method", default="POST", type=str.upper,
                   choices=["GET", "POST", "PUT", "PATCH", "DELETE"], help="webhook method")
    p.add_argument("--header", action="append", default=[], metavar="K:V",
                   help="a header sent with every webhook call (repeat)")
    p.set_defaults(func=block_create)

    p = bsub.add_parser("ls", help="list blocks (secrets masked)")
    p.add_argument("--json", action="store_true", help="print a JSON array of blocks")
    p.set_defaults(func=block_ls)

    p = bsub.add_parser("delete", help="delete a block")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=block_delete)


def _headers(pairs: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition(":")
        if not sep or not key.strip():
            raise InvalidInput([("--header", f"{pair!r} is not NAME:VALUE")])
        headers[key.strip()] = value.strip()
    return headers


def block_create(args: argparse.Namespace) -> int:
    body: dict = {"name": args.name}
    if args.url:
        if args.header or args.method != "POST":
            raise InvalidInput([("--method/--header", "go with --webhook, not --url")])
        body["urls"] = args.url
    else:
        body["webhook"] = {"url": args.webhook, "method": args.method,
                           "headers": _headers(args.header)}
    with client(args) as daemon:
        block = daemon.blocks.create(body)
    print(block["id"])
    return 0


def block_ls(args: argparse.Namespace) -> int:
    return list_command(args, lambda daemon: daemon.blocks.list(), [
        ("NAME", lambda b: b["name"]), ("KIND", lambda b: b["kind"]), ("ID", lambda b: b["id"]),
        ("TARGET", _target)], "no blocks (make one with `tocsin block create NAME --url URL`)")


def _target(block: dict) -> str:
    if block["kind"] == "notification":
        return " ".join(block["urls"])
    w = block["webhook"]
    return f"{w['method']} {w['url']}" + "".join(f" {k}:{v}" for k, v in w["headers"].items())


def block_delete(args: argparse.Namespace) -> int:
    from ..errors import NotFound

    try:
        with client(args) as daemon:
            daemon.blocks.delete(args.name)
    except NotFound:
        raise NotFound(f"no block named {args.name!r}") from None
    done("deleted", "block", args.name)
    return 0
