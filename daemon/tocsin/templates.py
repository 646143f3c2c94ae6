"""The one sandboxed Jinja environment every template in tocsin renders with.

Actions (notifications, webhook bodies, run-deployment parameters), incoming webhooks and
regex log sources all share it, so a template behaves the same wherever it is written, and
the dashboard's preview shows exactly what an action would produce. As in Prefect: Jinja's
immutable sandbox, undefined values chain to "", no template loading, `range` capped, at most
10 `for` loops nested at most 2 deep, Prefect's `tojson` and the `humanize_*` filters. Beyond
Prefect, a render has a time limit and an output limit (`template_limits`): every step checks
the deadline, and whatever would grow past the output limit is refused before it is built, so
a hostile template fails with a message instead of hanging or eating memory. In the daemon,
renders run on one thread of their own (`off_loop`).
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from typing import Any, TypeVar

import jinja2
from jinja2 import nodes
from jinja2.sandbox import (ImmutableSandboxedEnvironment, SandboxedEscapeFormatter,
                            SandboxedFormatter)
from jinja2.utils import htmlsafe_json_dumps
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from . import template_limits as limits
from .errors import TocsinError
from .template_limits import RenderLimit

T = TypeVar("T")

MAX_RANGE = 100
MAX_FOR_LOOPS = 10
MAX_LOOP_DEPTH = 2
MAX_OUTPUT_CHARS = limits.MAX_OUTPUT_CHARS
MAX_RENDER_SECONDS = limits.MAX_RENDER_SECONDS

_TOO_DEEP = ("the template nests expressions, filters or blocks too deeply to compile; "
             "split it into steps with {% set %}")

_ITER_GUARD = "__tocsin_guarded_iter"
_CONCAT = "__tocsin_concat"


class TemplateError(TocsinError):
    """A template that does not parse or render; carries the line when Jinja knows it."""

    exit_code = 65

    def __init__(self, message: str, lineno: int | None = None, source: str | None = None) -> None:
        self.message = message
        self.lineno = lineno
        self.source = source
        where = f"line {lineno}: " if lineno else ""
        super().__init__(f"{where}{message}")


class _SizedFormatter(limits.SizedFormatterMixin, SandboxedFormatter):
    pass


class _SizedEscapeFormatter(limits.SizedFormatterMixin, SandboxedEscapeFormatter):
    pass


class _Sandbox(ImmutableSandboxedEnvironment):
    """Prefect's immutable sandbox plus tocsin's limits (`template_limits`): every step checks
    the deadline, and everything that sizes its output is sized before it is built."""

    intercepted_binops = frozenset(["+", "*", "**", "//", "%"])

    def getattr(self, obj: Any, attribute: str) -> Any:
        limits.check_time()
        return limits.check_size(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        limits.check_time()
        return limits.check_size(super().getitem(obj, argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.check_time()
        args = limits.before_call(__obj, args, kwargs)
        return limits.built(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.check_time()
        limits.before_binop(operator, left, right)
        return limits.built(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Any:
        """Jinja's sandboxed `str.format`, with each field sized before it is formatted."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__
        formatter = (_SizedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                     else _SizedFormatter(self))

        def sized_format(*args: Any, **kwargs: Any) -> str:
            if value.__name__ == "format_map":
                if kwargs or len(args) != 1:
                    return wrapped(*args, **kwargs)  # Jinja's own error message
                args, kwargs = (), args[0]
            return limits.built(type(text)(formatter.vformat(text, args, kwargs)))

        return sized_format

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Route every `for` loop's iterable and every `~` through tocsin's checks."""
        try:
            return _Guard().visit(super()._parse(source, name, filename))
        except RecursionError:
            raise jinja2.TemplateSyntaxError(_TOO_DEEP, 1) from None


class _Guard(NodeTransformer):
    """`for x in xs` -> `for x in xs|guarded` (checks the deadline as it loops) and `a ~ b`
    -> `a|concat(b)` (sizes the operands before joining them). Filters, because Jinja calls
    a filter directly, without the sandbox's (slower) call path."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _ITER_GUARD, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        first, *rest = node.nodes
        return nodes.Filter(first, _CONCAT, rest, [], None, None, lineno=node.lineno)


# -- filters -----------------------------------------------------------------------------

def _limited_range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise OverflowError(f"range() is limited to {MAX_RANGE} items in templates")
    return r


def _tojson(value: Any, indent: int | None = None) -> str:
    """Prefect's `tojson` (Jinja's): keys sorted, `<>&'` escaped HTML-safe, `indent` honoured;
    tocsin's views (events, resources, labels) serialise as their JSON."""
    if isinstance(value, jinja2.Undefined):
        raise TypeError("tojson of an undefined value")
    return str(htmlsafe_json_dumps(value, dumps=json.dumps, sort_keys=True, indent=indent,
                                   default=_json_default))


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
    10: a dashboard link, or the command that shows the object — never `None`); a missing
    object (undefined) renders empty, as it does everywhere else."""
    if isinstance(obj, jinja2.Undefined):
        return ""
    method = getattr(obj, "ui_url", None)
    if callable(method):
        return method(_ui["base"])
    return "None"


def _ui_resource_events_url(obj: Any) -> str:
    if isinstance(obj, jinja2.Undefined):
        return ""
    method = getattr(obj, "ui_resource_events_url", None)
    if callable(method):
        return method(_ui["base"])
    return "None"


def _flow_run_id(text: Any) -> str:
    import re

    m = re.search(r"flow-run/([0-9a-fA-F-]{36})", str(text))
    return m.group(1) if m else ""


def _humanize_filters() -> dict[str, Any]:
    """The `humanize` library's functions as `humanize_*` filters, as Prefect's templates have
    them (through jinja2-humanize-extension). Its `activate`/`deactivate` are left out: they
    change the locale of the whole daemon, and `activate` reads files from a path it is given."""
    import humanize
    from humanize import time as humanize_time

    found = {}
    for name in limits.HUMANIZE_FILTERS:
        short = name.removeprefix("humanize_")
        found[name] = getattr(humanize, short, None) or getattr(humanize_time, f"_{short}")
    return found


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        undefined=jinja2.ChainableUndefined,
        autoescape=False,
        loader=None,
        keep_trailing_newline=True,
        finalize=limits.as_text,
    )
    env.globals["range"] = _limited_range
    env.globals["lipsum"] = limits.lipsum
    env.filters["tojson"] = _tojson
    env.filters["ui_url"] = _ui_url
    env.filters["ui_resource_events_url"] = _ui_resource_events_url
    env.filters["flow_run_id"] = _flow_run_id
    env.filters.update(_humanize_filters())
    env.filters = {name: limits.guard_filter(name, f) for name, f in env.filters.items()}
    env.filters[_ITER_GUARD] = limits.guarded_iter
    env.filters[_CONCAT] = limits.concat
    return env


# -- compiling, validating, rendering --------------------------------------------------------

@lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    """Parse once (cached by source); raises TemplateError with the line on a syntax error."""
    try:
        return environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno, source) from None
    except RecursionError:  # Jinja's code generator recurses into each nested expression
        raise TemplateError(_TOO_DEEP, 1, source) from None


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


_render_thread: list[ThreadPoolExecutor] = []


async def off_loop(func: Callable[..., T], *args: Any) -> T:
    """Run `func` (a render) on the daemon's one render thread. Off the event loop, so a slow
    template never holds up other requests; one thread, so renders never crowd the event loop
    out of the GIL (with N render threads it would wait for N of them in turn)."""
    if not _render_thread:
        _render_thread.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="render"))
    return await asyncio.get_running_loop().run_in_executor(_render_thread[0], partial(func, *args))


def render(source: str, context: dict[str, Any], seconds: float | None = None) -> str:
    """Render with the shared environment; any failure becomes TemplateError (never a crash).
    A render is stopped after `seconds` (MAX_RENDER_SECONDS unless given)."""
    if not is_template(source):
        return source
    template = compile_template(source)
    limits.start(MAX_RENDER_SECONDS if seconds is None else seconds)
    parts: list[str] = []
    size = 0
    error: TemplateError | None = None
    try:
        for chunk in template.generate(context):
            if len(parts) % 64 == 63:
                limits.check_time()
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimit(f"output is longer than {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
    except jinja2.TemplateSyntaxError as exc:
        error = TemplateError(exc.message or str(exc), exc.lineno, source)
    except Exception as exc:  # limits, sandbox refusals, overflow, mutation, bad filters...
        message = str(exc) if isinstance(exc, RenderLimit) else f"{type(exc).__name__}: {exc}"
        error = TemplateError(message, _error_line(exc), source)
        # Jinja's rewritten traceback sits in a reference cycle: free the failed render's
        # values (a refused bomb's megabytes) now rather than at the next garbage collection
        traceback.clear_frames(exc.__traceback__)
    finally:
        limits.stop()
    if error is not None:
        raise error
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
