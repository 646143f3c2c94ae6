"""`tocsin webhook create | ls | delete`: incoming webhooks that turn HTTP requests into events."""

from __future__ import annotations

import argparse
import json

from .files import read_arg
from .link import client
from .output import done, list_command


def register(sub: argparse._SubParsersAction) -> None:
    hook = sub.add_parser("webhook", help="incoming webhooks (HTTP requests become events)")
    hsub = hook.add_subparsers(dest="webhook_command", metavar="COMMAND", required=True)
    p = hsub.add_parser("create", help="make a webhook; prints its secret URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--template", required=True, metavar="FILE",
                   help="Jinja template rendering the event's JSON from body, headers, "
                        "method and query (- reads stdin)")
    p.add_argument("--description", default="")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--hmac-secret", metavar="SECRET",
                      help="require an HMAC-SHA256 of the body in X-Hub-Signature-256 "
                           "(GitHub's convention); '{env:NAME}' reads it from the daemon's "
                           "environment")
    auth.add_argument("--bearer-token", metavar="TOKEN",
                      help="require 'Authorization: Bearer TOKEN'; '{env:NAME}' reads it from "
                           "the daemon's environment")
    p.add_argument("--json", action="store_true", help="print the webhook as JSON")
    p.set_defaults(func=create)
    p = hsub.add_parser("ls", help="list webhooks")
    p.add_argument("--json", action="store_true", help="print a JSON array of webhooks")
    p.set_defaults(func=ls)
    p = hsub.add_parser("delete", help="delete a webhook (its URL stops answering)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=delete)


def _where(hook: dict) -> str:
    """The webhook's URL, or its path and why the listener does not serve it."""
    if hook.get("url"):
        return hook["url"]
    state = hook.get("listener", "off")
    if state == "off":
        why = "the listener is off: set [webhooks] enabled = true in the config"
    else:
        why = (f"the listener {state}; fix [webhooks] host/port in the config and reload "
               "(SIGHUP)")
    return f"/hooks/{hook['slug']} ({why})"


def _auth(hook: dict) -> str:
    auth = hook.get("auth")
    return f"[{auth['type']}]" if auth else "[none]"


def create(args: argparse.Namespace) -> int:
    body: dict = {"name": args.name, "template": read_arg(args.template, "--template"),
                  "description": args.description}
    if args.hmac_secret is not None:
        body["auth"] = {"type": "hmac-sha256", "secret": args.hmac_secret}
    elif args.bearer_token is not None:
        body["auth"] = {"type": "bearer", "secret": args.bearer_token}
    with client(args) as daemon:
        hook = daemon.webhooks.create(body)
    if args.json:
        print(json.dumps(hook, indent=2))
    else:
        print(_where(hook))
    return 0


def ls(args: argparse.Namespace) -> int:
    return list_command(args, lambda daemon: daemon.webhooks.list(), [
        ("NAME", lambda h: h["name"]), ("AUTH", _auth), ("URL", _where)],
        "no webhooks (make one with `tocsin webhook create NAME --template FILE`)")


def delete(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        daemon.webhooks.delete(args.name)
    done("deleted", "webhook", args.name)
    return 0
