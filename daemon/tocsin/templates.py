"""The one sandboxed Jinja environment every template in tocsin renders with.

Actions (notifications, webhook bodies, run-deployment parameters), incoming webhooks and
regex log sources all share it, so a template behaves the same wherever it is written, and
the dashboard's preview shows exactly what an action would produce. As in Prefect: Jinja's
immutable sandbox, undefined values chain to "", no template loading, `range` capped.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TocsinError

MAX_RANGE = 100
MAX_OUTPUT_CHARS = 1_000_000


class TemplateError(TocsinError):
    """A template that does not parse or render; carries the line when Jinja knows it."""

    exit_code = 65

    def __init__(self, message: str, lineno: int | None = None, source: str | None = None) -> None:
        self.message = message
        self.lineno = lineno
        self.source = source
        where = f"line {lineno}: " if lineno else ""
        super().__init__(f"{where}{message}")


def _limited_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise OverflowError(f"range() is limited to {MAX_RANGE} items in templates")
    return r


def _tojson(value: Any, indent: int | None = None) -> str:
    if isinstance(value, jinja2.Undefined):
        raise TypeError("tojson of an undefined value")
    return json.dumps(value, indent=indent, default=_json_default)


def _json_default(value: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(value)


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.ChainableUndefined,
        autoescape=False,
        loader=None,
        keep_trailing_newline=True,
    )
    env.globals["range"] = _limited_range
    env.filters["tojson"] = _tojson
    return env


@lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    """Parse once (cached by source); raises TemplateError with the line on a syntax error."""
    try:
        return environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno, source) from None


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(source: str, context: dict[str, Any]) -> str:
    """Render with the shared environment; any failure becomes TemplateError (never a crash)."""
    if not is_template(source):
        return source
    template = compile_template(source)
    try:
        out = template.render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno, source) from None
    except Exception as exc:  # sandbox refusals, overflow, mutation, bad filters, ...
        raise TemplateError(f"{type(exc).__name__}: {exc}", _error_line(exc), source) from None
    if len(out) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"output is longer than {MAX_OUTPUT_CHARS} characters", None, source)
    return out


def _error_line(exc: BaseException) -> int | None:
    """The template line an exception was raised on, from Jinja's rewritten traceback."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
