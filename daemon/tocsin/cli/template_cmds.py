"""`tocsin template render FILE [--event EVENT.json]`: what a template renders to, with the
very code an action uses, and no daemon."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InvalidInput
from .files import read_arg


def register(sub: argparse._SubParsersAction) -> None:
    tpl = sub.add_parser("template", help="render Jinja templates as actions would")
    tsub = tpl.add_subparsers(dest="template_command", metavar="COMMAND", required=True)
    p = tsub.add_parser("render", help="print what a template renders to for an event "
                                       "(no daemon needed)")
    p.add_argument("file", metavar="FILE", help="the template (- for stdin)")
    p.add_argument("--event", metavar="EVENT.json",
                   help="the triggering event, as JSON or YAML (`event` in the template)")
    p.set_defaults(func=template_render)


def _load_event(path: str):  # -> Event
    from ..events.model import event_from_dict

    text = read_arg(path, "--event")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput([(path, f"neither JSON nor YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise InvalidInput([(path, "an event must be a JSON object")])
    try:
        return event_from_dict(data)
    except InvalidInput as exc:
        raise InvalidInput([(f"{path}: {p.lstrip('$.') or 'event'}", m)
                            for p, m in exc.errors]) from None


def template_render(args: argparse.Namespace) -> int:
    from ..actions.context import template_context
    from ..templates import TemplateError, render, validate_template

    source = read_arg(args.file, "FILE")
    event = _load_event(args.event) if args.event else None
    try:
        validate_template(source)
        output = render(source, template_context(None, None, event))
    except TemplateError as exc:
        print(f"tocsin: {args.file}: {exc}", file=sys.stderr)
        return 65
    sys.stdout.write(output)
    return 0
