"""The one sandboxed Jinja environment every template in tocsin renders with.

Actions (notifications, webhook bodies, run-deployment parameters), incoming webhooks and
regex log sources all share it, so a template behaves the same wherever it is written, and
the dashboard's preview shows exactly what an action would produce. As in Prefect: Jinja's
immutable sandbox, undefined values chain to "", no template loading, `range` capped, at most
10 `for` loops nested at most 2 deep. Beyond Prefect, a render has a time limit and an output
limit: every loop step, attribute lookup, call and arithmetic operator checks the deadline,
and no string, list or number grows past the output limit, so a hostile template fails with
a message instead of hanging or eating memory.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TocsinError

MAX_RANGE = 100
MAX_OUTPUT_CHARS = 1_000_000
MAX_RENDER_SECONDS = 2.0
MAX_FOR_LOOPS = 10
MAX_LOOP_DEPTH = 2
# Largest integer (in bits) arithmetic may produce: keeps `10 ** 10 ** 9` from spinning.
MAX_INT_BITS = 4096

_ITER_GUARD = "__tocsin_guarded_iter"


class TemplateError(TocsinError):
    """A template that does not parse or render; carries the line when Jinja knows it."""

    exit_code = 65

    def __init__(self, message: str, lineno: int | None = None, source: str | None = None) -> None:
        self.message = message
        self.lineno = lineno
        self.source = source
        where = f"line {lineno}: " if lineno else ""
        super().__init__(f"{where}{message}")


class RenderLimit(Exception):
    """A render ran past its time or size limit."""


# -- limits ------------------------------------------------------------------------------

_deadline = threading.local()


def _check_time() -> None:
    end = getattr(_deadline, "end", None)
    if end is not None and time.monotonic() > end:
        raise RenderLimit(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_OUTPUT_CHARS:
        raise RenderLimit(f"a value grew past {MAX_OUTPUT_CHARS} items")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise RenderLimit(f"a number grew past {MAX_INT_BITS} bits")
    return value


def _guarded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for i, item in enumerate(iterable):
        if i % 64 == 0:
            _check_time()
        yield item


class _Sandbox(ImmutableSandboxedEnvironment):
    """Prefect's immutable sandbox plus time and size checks on every step."""

    intercepted_binops = frozenset(["+", "*", "**", "//", "%"])

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_time()
        return _check_size(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_time()
        return _check_size(super().getitem(obj, argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_time()
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_time()
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and right * max(abs(left).bit_length() - 1, 1) > MAX_INT_BITS:
                raise RenderLimit(f"a number grew past {MAX_INT_BITS} bits")
        if operator == "*":
            seq, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) \
                    and len(seq) * count > MAX_OUTPUT_CHARS:
                raise RenderLimit(f"a value grew past {MAX_OUTPUT_CHARS} items")
        return _check_size(super().call_binop(context, operator, left, right))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Wrap every `for` loop's iterable so long loops check the deadline as they go."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name(_ITER_GUARD, "load", lineno=loop.lineno),
                                   [loop.iter], [], None, None, lineno=loop.lineno)
        return tree


# -- filters -----------------------------------------------------------------------------

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

    to_json = getattr(value, "__json__", None)
    if to_json is not None:
        return to_json()
    return msgspec.to_builtins(value)


#: Where `ui_url` points: the dashboard's base URL, or None to print the `tocsin` command.
_ui = {"base": None}


def configure(ui_url: str | None) -> None:
    """Set the dashboard base URL `ui_url` links to (None: show the command instead)."""
    _ui["base"] = ui_url.rstrip("/") if ui_url else None


def ui_base() -> str | None:
    return _ui["base"]


def _ui_url(obj: Any) -> str:
    """Objects that know how to link themselves implement `ui_url(base)` (tocsin's decision
    10: a dashboard link, or the command that shows the object — never `None`)."""
    method = getattr(obj, "ui_url", None)
    if callable(method):
        return method(_ui["base"])
    return "None"


def _ui_resource_events_url(obj: Any) -> str:
    method = getattr(obj, "ui_resource_events_url", None)
    if callable(method):
        return method(_ui["base"])
    return "None"


def _flow_run_id(text: Any) -> str:
    import re

    m = re.search(r"flow-run/([0-9a-fA-F-]{36})", str(text))
    return m.group(1) if m else ""


def _seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        now = datetime.now(value.tzinfo or timezone.utc)
        return (now - value).total_seconds()
    return float(value)


def _naturaldelta(value: Any) -> str:
    """`3 minutes`, `2 hours`, `a day` (the humanize filters Prefect's templates have)."""
    s = abs(_seconds(value))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if s >= size or unit == "second":
            n = int(s // size)
            if n <= 1:
                return f"a {unit}" if unit != "hour" else "an hour"
            return f"{n} {unit}s"
    return ""


def _naturaltime(value: Any) -> str:
    s = _seconds(value)
    if abs(s) < 1:
        return "now"
    return f"{_naturaldelta(s)} {'ago' if s > 0 else 'from now'}"


def _intcomma(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{int(number):,}" if number == int(number) else f"{number:,}"


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        undefined=jinja2.ChainableUndefined,
        autoescape=False,
        loader=None,
        keep_trailing_newline=True,
    )
    env.globals["range"] = _limited_range
    env.globals[_ITER_GUARD] = _guarded_iter
    env.filters["tojson"] = _tojson
    env.filters["ui_url"] = _ui_url
    env.filters["ui_resource_events_url"] = _ui_resource_events_url
    env.filters["flow_run_id"] = _flow_run_id
    env.filters["humanize_naturaldelta"] = _naturaldelta
    env.filters["humanize_naturaltime"] = _naturaltime
    env.filters["humanize_intcomma"] = _intcomma
    return env


# -- compiling, validating, rendering --------------------------------------------------------

@lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    """Parse once (cached by source); raises TemplateError with the line on a syntax error."""
    try:
        return environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno, source) from None


def validate_template(source: str) -> None:
    """Check a template when it is saved: syntax and Prefect's loop limits (TemplateError)."""
    problem = _problem(source)
    if problem is not None:
        raise TemplateError(problem[0], problem[1], source)


@lru_cache(maxsize=1024)
def _problem(source: str) -> tuple[str, int | None] | None:
    """(message, line) of what is wrong with a template, or None; cached by source, since
    the same action templates are checked on every save and every run."""
    if not is_template(source):
        return None
    try:
        tree = environment().parse(source)
        compile_template(source)
    except jinja2.TemplateSyntaxError as exc:
        return exc.message or str(exc), exc.lineno
    except TemplateError as exc:
        return exc.message, exc.lineno
    loops = list(tree.find_all(nodes.For))
    if len(loops) > MAX_FOR_LOOPS:
        return (f"contains {len(loops)} for loops; templates can contain no more than "
                f"{MAX_FOR_LOOPS} for loops", loops[MAX_FOR_LOOPS].lineno)
    depth, line = _loop_depth(tree)
    if depth > MAX_LOOP_DEPTH:
        return (f"contains nested for loops at a depth of {depth}; templates can nest for "
                f"loops no more than {MAX_LOOP_DEPTH} loops deep", line)
    return None


def _loop_depth(node: nodes.Node, depth: int = 0) -> tuple[int, int | None]:
    """The deepest for-loop nesting under node, and the line of the deepest loop."""
    best, line = depth, None
    for child in node.iter_child_nodes():
        inner = depth + 1 if isinstance(child, nodes.For) else depth
        d, ln = _loop_depth(child, inner)
        if d > best:
            best, line = d, ln if ln is not None else child.lineno
    return best, line


@lru_cache(maxsize=1024)
def referenced_names(source: str) -> frozenset[str]:
    """Top-level names a template reads (for loading lazy context objects only when used)."""
    if not is_template(source):
        return frozenset()
    from jinja2 import meta

    try:
        return frozenset(meta.find_undeclared_variables(environment().parse(source)))
    except jinja2.TemplateSyntaxError:
        return frozenset()


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(source: str, context: dict[str, Any]) -> str:
    """Render with the shared environment; any failure becomes TemplateError (never a crash)."""
    if not is_template(source):
        return source
    template = compile_template(source)
    _deadline.end = time.monotonic() + MAX_RENDER_SECONDS
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimit(f"output is longer than {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno, source) from None
    except RenderLimit as exc:
        raise TemplateError(str(exc), _error_line(exc), source) from None
    except Exception as exc:  # sandbox refusals, overflow, mutation, bad filters, ...
        raise TemplateError(f"{type(exc).__name__}: {exc}", _error_line(exc), source) from None
    finally:
        _deadline.end = None
    return "".join(parts)


def _error_line(exc: BaseException) -> int | None:
    """The template line an exception was raised on, from Jinja's rewritten traceback."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
