"""How big and how long a template render may get, checked before the work is done.

A template is code written by whoever can save an automation or post to
`/templates/render`. Python builds a string such as `'x'.ljust(10**9)` in one C call that
nothing can interrupt, so checking the result afterwards is too late: the gigabyte is already
spent and the thread (and with it the GIL) was blocked while it was built. So every operation
whose output size a template controls — `*` and `+` on strings and lists, `%` and `format`
widths, `str.format` specs, `ljust`/`rjust`/`center`/`zfill`/`expandtabs`/`replace`/
`translate`/`join`, `lipsum`, and the filters `format`, `center`, `indent`, `wordwrap`,
`replace`, `join`, `batch`, `slice`, `tojson(indent)`, `sum` — is sized here first and refused
when it would pass `MAX_OUTPUT_CHARS`; turning a container into text (output, `~`, `string`,
`%s`) is sized the same way. Each value a render builds also counts against a budget for the
whole render (`MAX_BUILT_CHARS`), so a loop cannot pile up many values each under the limit.
The time limit is checked between steps (loops, calls, lookups, filters); since no single step
can be large, no step runs long past it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import wraps
from string import Formatter
from typing import Any

from jinja2.utils import Namespace

MAX_OUTPUT_CHARS = 1_000_000
#: All values one render builds, added up (strings in characters, lists in items).
MAX_BUILT_CHARS = 16 * MAX_OUTPUT_CHARS
MAX_RENDER_SECONDS = 2.0
# Largest integer (in bits) arithmetic may produce: keeps `10 ** 10 ** 9` from spinning.
MAX_INT_BITS = 4096


class RenderLimit(Exception):
    """A render ran, or would run, past its time or size limit."""


# -- per-render state ----------------------------------------------------------------------

_state = threading.local()


def start(seconds: float) -> None:
    """Begin a render on this thread: its deadline and an empty size budget."""
    _state.end = time.monotonic() + seconds
    _state.seconds = seconds
    _state.built = 0


def stop() -> None:
    _state.end = None


def check_time() -> None:
    end = getattr(_state, "end", None)
    if end is not None and time.monotonic() > end:
        raise RenderLimit(f"rendering took longer than {_state.seconds:g} s")


def need(size: int | float, what: str = "a value") -> None:
    """Refuse to build something of `size` characters (or items) past the output limit."""
    if size > MAX_OUTPUT_CHARS:
        raise RenderLimit(f"{what} would be longer than {MAX_OUTPUT_CHARS} characters "
                          "(the template limit); it was refused before it was built")


def check_size(value: Any) -> Any:
    """After the fact, for values a lookup found (not built by the template)."""
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_OUTPUT_CHARS:
        raise RenderLimit(f"a value grew past {MAX_OUTPUT_CHARS} items")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise RenderLimit(f"a number grew past {MAX_INT_BITS} bits")
    return value


def built(value: Any) -> Any:
    """A value the template just built (a call's, operator's or filter's result): checked,
    and counted against the render's budget, so a loop cannot pile up many values that are
    each under the limit."""
    check_size(value)
    if isinstance(value, (str, bytes, list, tuple)) and getattr(_state, "end", None) is not None:
        _state.built += len(value)
        if _state.built > MAX_BUILT_CHARS:
            raise RenderLimit(f"the template built more than {MAX_BUILT_CHARS} characters "
                              "of values in one render")
    return value


def guarded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    """A `for` loop's iterable, checking the deadline as it goes."""
    for i, item in enumerate(iterable):
        if i % 64 == 0:
            check_time()
        yield item


# -- sizing text -----------------------------------------------------------------------------

def text_size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """About how long `str(value)` is, found without building it; stops counting past
    `limit` (so `[big] * 10**6` costs one look at `big`)."""
    if isinstance(value, str):
        return len(value)
    total = 0
    stack: list[tuple[Iterator[Any], int]] = [(iter((value,)), 0)]
    while stack and total <= limit:
        items, depth = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
            continue
        if isinstance(item, str):
            # inside a container a string is repr'd: quotes, and escapes up to 4 chars each
            total += len(item) if depth == 0 else 4 * len(item) + 2
        elif isinstance(item, (bytes, bytearray)):
            total += 4 * len(item) + 3
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif depth > 50:
            total += limit + 1  # nested deeper than anything reasonable: do not build it
        elif isinstance(item, Namespace):
            total += 13
            stack.append((iter((object.__getattribute__(item, "_Namespace__attrs"),)), depth + 1))
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.append((iter([x for pair in item.items() for x in pair]), depth + 1))
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.append((iter(item), depth + 1))
        else:  # tocsin's own views, dates, Undefined: small by construction
            total += len(str(item))
    return total


_END = object()


def as_text(value: Any, what: str = "a value") -> str:
    """`str(value)`, sized first."""
    if isinstance(value, str):
        return value
    size = text_size(value)
    need(size, what)
    return str(value)


def concat(*values: Any) -> str:
    """Jinja's `~`, every operand sized before anything is joined."""
    need(sum(len(v) if isinstance(v, str) else text_size(v) for v in values),
         "a `~` concatenation")
    return built("".join([v if isinstance(v, str) else str(v) for v in values]))


# -- printf (`%`, `format` filter) and str.format ----------------------------------------------

_PRINTF = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?"
                     r"(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<type>.)", re.DOTALL)


def printf_size(fmt: str | bytes, args: Any) -> int:
    """About how long `fmt % args` is: the format's text, each width and precision (`*`
    ones taken from args), and each value as text."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    positional = list(args) if isinstance(args, tuple) else [args]
    size = len(text)
    for m in _PRINTF.finditer(text):
        if m["type"] == "%":
            continue
        for part in ("width", "prec"):
            spec = m[part]
            if spec == "*":
                star = positional.pop(0) if positional else 0
                size += abs(star) if isinstance(star, int) else 0
            elif spec:
                size += int(spec)
        if m["key"] is not None and isinstance(args, Mapping):
            size += text_size(args.get(m["key"]))
        elif positional:
            size += text_size(positional.pop(0))
    return size


def check_printf(fmt: Any, args: Any) -> None:
    if isinstance(fmt, (str, bytes)):
        need(printf_size(fmt, args), "a `%` format")


_SPEC_NUMBERS = re.compile(r"\d+")


class SizedFormatterMixin(Formatter):
    """str.format / format_map: each field's width and value sized before it is formatted,
    and all fields of one format string added up."""

    _sized = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._sized = 0
        return super().vformat(format_string, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        width = sum(int(n) for n in _SPEC_NUMBERS.findall(format_spec))
        size = max(width, text_size(value))
        self._sized += size
        need(self._sized, "a `.format()`")
        return super().format_field(value, format_spec)


# -- methods of strings that size their output -----------------------------------------------

def _width(width: Any = 0, *_: Any, **__: Any) -> int:
    return width if isinstance(width, int) else 0


def _replace_size(s: str | bytes, old: Any = "", new: Any = "", count: int = -1, *_: Any) -> int:
    if not isinstance(old, type(s)) or not isinstance(new, type(s)):
        return len(s)
    n = len(s) + 1 if not old else s.count(old)
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    return len(s) + n * max(len(new) - len(old), 0)


def _expandtabs_size(s: str | bytes, tabsize: Any = 8, *_: Any) -> int:
    tab = "\t" if isinstance(s, str) else b"\t"
    tabs = s.count(tab)  # type: ignore[arg-type]
    return len(s) + tabs * (tabsize if isinstance(tabsize, int) else 8)


def _translate_size(s: str | bytes, table: Any = None, *_: Any) -> int:
    longest = 1
    if isinstance(table, Mapping):
        longest = max([len(v) for v in table.values() if isinstance(v, str)] + [1])
    return len(s) * longest


_STR_METHODS: dict[str, Callable[..., int]] = {
    "ljust": lambda s, *a, **k: max(len(s), _width(*a, **k)),
    "rjust": lambda s, *a, **k: max(len(s), _width(*a, **k)),
    "center": lambda s, *a, **k: max(len(s), _width(*a, **k)),
    "zfill": lambda s, *a, **k: max(len(s), _width(*a, **k)),
    "expandtabs": _expandtabs_size,
    "replace": _replace_size,
    "translate": _translate_size,
}


def before_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Size a call about to be made; returns the args to call with (a `join`'s iterable is
    read into a list first, so it can be sized)."""
    owner = getattr(func, "__self__", None)
    if not isinstance(owner, (str, bytes)):
        return args
    name = getattr(func, "__name__", "")
    if name == "join" and args:
        items = list(args[0])
        need(len(owner) * max(len(items) - 1, 0)
             + sum(len(x) for x in items if isinstance(x, (str, bytes))), "a join")
        return (items, *args[1:])
    sizer = _STR_METHODS.get(name)
    if sizer is not None:
        need(sizer(owner, *args, **kwargs), f"`.{name}()`")
    return args


def before_binop(operator: str, left: Any, right: Any) -> None:
    """`*`, `+`, `%` and `**` sized before Python builds their result."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int):
        bits = right * max(abs(left).bit_length() - 1, 1)
        if right > 0 and abs(left) > 1 and bits > MAX_INT_BITS:
            raise RenderLimit(f"a number would grow past {MAX_INT_BITS} bits")
    elif operator == "*":
        seq, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
            need(len(seq) * count, "a `*` repetition")
    elif operator == "+":
        if isinstance(left, (str, bytes, list, tuple)) and type(left) is type(right):
            need(len(left) + len(right), "a `+` concatenation")
    elif operator == "%":
        check_printf(left, right)


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """Jinja's `lipsum`, sized first (about 12 characters a word)."""
    from jinja2.utils import generate_lorem_ipsum

    need(abs(n) * abs(max) * 12 if isinstance(n, int) and isinstance(max, int) else 0,
         "lipsum()")
    return generate_lorem_ipsum(n, html, min, max)


# -- filters -----------------------------------------------------------------------------------

HUMANIZE_FILTERS = ("humanize_naturalsize", "humanize_naturaltime", "humanize_naturaldelta",
                    "humanize_naturalday", "humanize_naturaldate", "humanize_precisedelta",
                    "humanize_intcomma", "humanize_intword", "humanize_apnumber",
                    "humanize_ordinal", "humanize_fractional", "humanize_metric",
                    "humanize_scientific", "humanize_clamp", "humanize_natural_list",
                    "humanize_thousands_separator", "humanize_decimal_separator",
                    "humanize_abs_timedelta", "humanize_date_and_delta")


def _filter_sizes() -> dict[str, Callable[..., int]]:
    """filter name -> size of its output from (value, *args, **kwargs), for every built-in
    filter whose arguments can make its output larger than its input."""

    def indent(s: Any, width: Any = 4, *_: Any, **__: Any) -> int:
        pad = len(width) if isinstance(width, str) else (width if isinstance(width, int) else 4)
        return text_size(s) + (as_text(s).count("\n") + 1) * pad

    def wordwrap(s: Any, width: Any = 79, break_long_words: Any = True,
                 wrapstring: Any = None, *_: Any, **kw: Any) -> int:
        """A break goes between words, or every `width` characters inside a long word."""
        wrap = kw.get("wrapstring", wrapstring)
        text = as_text(s)
        words = sum(text.count(c) for c in " \t\n") + 1
        breaks = words + len(text) // max(width if isinstance(width, int) else 79, 1)
        return len(text) + breaks * (len(wrap) if isinstance(wrap, str) else 1)

    def join(value: Any, d: Any = "", attribute: Any = None) -> int:
        items = value if isinstance(value, (list, tuple, str)) else []
        sep = len(d) if isinstance(d, str) else 0
        return sep * max(len(items) - 1, 0) + sum(text_size(x) for x in items)

    def replace(s: Any, old: Any = "", new: Any = "", count: Any = None) -> int:
        return _replace_size(as_text(s), str(old), str(new), count if count is not None else -1)

    def pieces(value: Any, n: Any = 1, fill_with: Any = None) -> int:
        return (n if isinstance(n, int) else 0) + text_size(value) // 8

    def tojson(value: Any, indent: Any = None) -> int:
        size = text_size(value)
        return size + (size // 2 + 1) * (indent if isinstance(indent, int) else 0) * 8

    def sum_(iterable: Any, attribute: Any = None, start: Any = 0) -> int:
        if isinstance(start, (int, float)):
            return 0
        raise RenderLimit("sum() adds numbers only in templates")

    def humanize(value: Any, *args: Any, **kwargs: Any) -> int:
        """Widths and precisions are ints or hide in format strings (`%.1f`, `{:}`)."""
        size = text_size(value)
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int):
                size += abs(arg)
            elif isinstance(arg, str):
                size += len(arg) + sum(int(n) for n in _SPEC_NUMBERS.findall(arg))
        return size

    return {
        **{name: humanize for name in HUMANIZE_FILTERS},
        "format": lambda value, *a, **k: printf_size(as_text(value), k or a),
        "center": lambda value, width=80: max(text_size(value), _width(width)),
        "indent": indent, "wordwrap": wordwrap, "join": join, "replace": replace,
        "batch": pieces, "slice": pieces, "tojson": tojson, "sum": sum_,
        "string": text_size, "pprint": text_size,
    }


_FILTER_SIZES = _filter_sizes()


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline, sizes its output first where its arguments can grow
    it, and has its result checked. It runs only inside a render: Jinja folds filters of
    constants when it compiles, on the caller's thread (the event loop, when an automation is
    saved) and outside any deadline, and refusing there makes it leave them to the render."""
    sizer = _FILTER_SIZES.get(name)
    passes = getattr(func, "jinja_pass_arg", None)

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "end", None) is None:
            raise RenderLimit("template filters run only while a template renders")
        check_time()
        if sizer is not None:
            rest = args[1:] if passes is not None else args  # drop context/env/eval_ctx
            if name == "join" and rest and not isinstance(rest[0], (list, tuple, str)):
                rest = (list(rest[0]), *rest[1:])
                args = (*args[:len(args) - len(rest)], *rest)
            need(sizer(*rest, **kwargs), f"the `{name}` filter")
        return built(func(*args, **kwargs))

    return guarded
