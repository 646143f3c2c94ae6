"""`tocsin template render FILE [--event EVENT.json]`: what a template renders to, with the
very code an action uses, and no daemon. A template that names a Prefect object (`flow_run`,
`deployment`, ...) needs the daemon that holds it: then, when a daemon answers, it renders
there (`POST /templates/render`), exactly as an action would."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

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
    from ..actions.context import PREFECT_OBJECTS, template_context
    from ..templates import TemplateError, referenced_names, render, validate_template

    source = read_arg(args.file, "FILE")
    event = _load_event(args.event) if args.event else None
    named = sorted(referenced_names(source) & set(PREFECT_OBJECTS))
    try:
        output = _render_in_daemon(args, source, event) if named else None
        if output is None:
            if named:
                print(f"tocsin: no daemon is running, so {', '.join(named)} render empty",
                      file=sys.stderr)
            validate_template(source)
            output = render(source, template_context(None, None, event))
    except TemplateError as exc:
        print(f"tocsin: {args.file}: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.stdout.write(output)
    return 0


def _render_in_daemon(args: argparse.Namespace, source: str, event: Any) -> str | None:
    """The daemon's rendering (Prefect objects loaded), or None when no daemon answers; a
    template the daemon refuses raises TemplateError, as a local render would."""
    import msgspec

    from ..errors import DaemonNotRunning, InvalidInput
    from ..templates import TemplateError
    from .link import client

    as_json = None if event is None else msgspec.to_builtins(event)
    try:
        with client(args) as daemon:
            return daemon.templates.render(source, as_json)["output"]
    except DaemonNotRunning:
        return None
    except InvalidInput as exc:
        raise TemplateError("; ".join(msg for _, msg in exc.errors)) from None
