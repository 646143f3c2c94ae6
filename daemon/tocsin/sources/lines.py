"""Turning one line of a watched file into an event: JSON lines, or a regex plus a template.

A parser never raises for bad input: it returns an event, None (a regex line that matched
nothing, counted but not an error) or a `Rejected` reason, which the tailer records as a
`tocsin.source.line-rejected` event so that one bad line can never block a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from ..events.model import MAX_JSON_DEPTH, Event

REJECTED_EVENT = "tocsin.source.line-rejected"
EXCERPT_CHARS = 200

_event_decoder = msgspec.json.Decoder(Event)


@dataclass(frozen=True)
class Rejected:
    reason: str


class ParseCounters:
    """What a parser saw that is worth a number in `tocsin status`."""

    def __init__(self) -> None:
        self.unmatched = 0
        self.invalid_utf8 = 0


def _text(line: bytes, counters: ParseCounters) -> str:
    """UTF-8 only; invalid bytes are replaced (and counted), never fatal."""
    try:
        return line.decode()
    except UnicodeDecodeError:
        counters.invalid_utf8 += 1
        return line.decode(errors="replace")


def _validation_reason(exc: Exception) -> str:
    message = str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8: {message}"
    if isinstance(exc, RecursionError):
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(exc, msgspec.ValidationError):
        return f"not a valid event: {message}"
    return f"not valid JSON: {message}"


class JsonlParser:
    """Each line is one event in Prefect's shape; `id` and `occurred` are filled in."""

    def __init__(self) -> None:
        self.counters = ParseCounters()

    def parse_all(self, lines: list[bytes]) -> list[Event] | None:
        """Every line as an event, or None if any line needs `parse`'s care (a bad line, an
        empty one, invalid UTF-8). The common case of a clean batch costs one decode per
        line and nothing else."""
        try:
            return [_event_decoder.decode(line) for line in lines]
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError,
                RecursionError):
            return None

    def parse(self, line: bytes, path: str, lineno: int) -> Event | Rejected | None:
        try:
            return _event_decoder.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError,
                RecursionError) as exc:
            first = exc
        try:
            line.decode()
        except UnicodeDecodeError:
            fixed = _text(line, self.counters).encode()
            try:
                return _event_decoder.decode(fixed)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                first = exc
        return Rejected(_validation_reason(first))


class RegexParser:
    """`pattern` (named groups) picks lines; `template` renders the event's JSON from the groups,
    `line`, `path` and `lineno`, in the one sandboxed Jinja environment. A render runs on the
    event loop (inside the tailer's parse), so it gets `seconds`, far less than an action's
    render: one hostile line must not hold the loop past what `/health` allows."""

    def __init__(self, pattern: str, template: str, seconds: float) -> None:
        # Imported here, once: a JSONL-only daemon never loads Jinja for its sources.
        from ..templates import TemplateError, compile_template, render

        self.pattern = re.compile(pattern)
        self.template = template
        self.seconds = seconds
        compile_template(template)  # a syntax error is a config error, found at load
        self.counters = ParseCounters()
        self._render, self._render_error = render, TemplateError

    def parse_all(self, lines: list[bytes]) -> None:
        """No shortcut: every line goes through `parse` (matching is counted per line)."""

    def parse(self, line: bytes, path: str, lineno: int) -> Event | Rejected | None:
        text = _text(line, self.counters)
        m = self.pattern.search(text)
        if m is None:
            self.counters.unmatched += 1
            return None
        groups = m.groupdict()
        context: dict[str, Any] = {**groups, "groups": groups, "line": text, "path": path,
                                   "lineno": lineno}
        try:
            rendered = self._render(self.template, context, self.seconds)
        except self._render_error as exc:
            return Rejected(f"template failed: {exc}")
        try:
            return _event_decoder.decode(rendered)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return Rejected(f"template output is {_validation_reason(exc)}")


Parser = JsonlParser | RegexParser


def rejected_event(source: str, path: str, lineno: int, offset: int, reason: str,
                   line: bytes) -> Event:
    """The event that records a line we could not use, with where it was and why."""
    return Event(
        event=REJECTED_EVENT,
        resource={"prefect.resource.id": f"tocsin.source.{source}",
                  "prefect.resource.name": source},
        payload={"path": path, "lineno": lineno, "offset": offset, "reason": reason,
                 "excerpt": line[:EXCERPT_CHARS].decode(errors="replace")},
    )
