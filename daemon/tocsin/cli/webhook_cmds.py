"""`tocsin webhook create | ls | delete`: incoming webhooks that turn HTTP requests into events."""

from __future__ import annotations

import argparse
import json

from .files import read_arg


def register(sub: argparse._SubParsersAction) -> None:
    hook = sub.add_parser("webhook", help="incoming webhooks (HTTP requests become events)")
    hsub = hook.add_subparsers(dest="webhook_command", metavar="COMMAND", required=True)
    p = hsub.add_parser("create", help="make a webhook; prints its secret URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--template", required=True, metavar="FILE",
                   help="Jinja template rendering the event's JSON from body, headers, "
                        "method and query (- reads stdin)")
    p.add_argument("--description", default="")
    p.add_argument("--json", action="store_true", help="print the webhook as JSON")
    p.set_defaults(func=create)
    p = hsub.add_parser("ls", help="list webhooks")
    p.add_argument("--json", action="store_true", help="print a JSON array of webhooks")
    p.set_defaults(func=ls)
    p = hsub.add_parser("delete", help="delete a webhook (its URL stops answering)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=delete)


def _where(hook: dict) -> str:
    return hook.get("url") or (f"/hooks/{hook['slug']} (the listener is off: set "
                               "[webhooks] enabled = true in the config)")


def create(args: argparse.Namespace) -> int:
    from ..client.sync import SyncClient

    body = {"name": args.name, "template": read_arg(args.template, "--template"),
            "description": args.description}
    with SyncClient(args.socket) as client:
        hook = client.request("POST", "/webhooks", body)
    if args.json:
        print(json.dumps(hook, indent=2))
    else:
        print(_where(hook))
    return 0


def ls(args: argparse.Namespace) -> int:
    from ..client.sync import SyncClient

    with SyncClient(args.socket) as client:
        hooks = client.request("GET", "/webhooks")
    if args.json:
        print(json.dumps(hooks, indent=2))
        return 0
    for hook in hooks:
        print(f"{hook['name']:<24} {_where(hook)}")
    return 0


def delete(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    from ..client.sync import SyncClient

    with SyncClient(args.socket) as client:
        client.request("DELETE", f"/webhooks/{quote(args.name, safe='')}")
    return 0
