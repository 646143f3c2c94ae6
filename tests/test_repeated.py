"""Errors that repeat are logged once with a count (issue 11: 179,676 "Too many open files"
lines, 97 MB, in 10 s; a traceback for every malformed request)."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import BadStatusLine
from tocsin.errors import StoreFull
from tocsin.repeated import RepeatedErrors, RepeatFilter


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def logger(name: str) -> tuple[logging.Logger, Collect]:
    log = logging.getLogger(name)
    log.propagate = False
    log.handlers[:] = [sink := Collect()]
    log.setLevel(logging.INFO)
    return log, sink


def test_a_repeated_error_is_logged_once_then_at_powers_of_ten_then_summed_up():
    log, sink = logger("test.repeated.errors")
    errors = RepeatedErrors(log, "write failed", traceback=True)
    for _ in range(250):
        errors.note(StoreFull("the disk is full"))
    errors.note(ValueError("something else"))
    lines = [r.getMessage() for r in sink.records]
    assert lines[0] == "write failed: the disk is full" and sink.records[0].exc_info is None
    assert lines[1:3] == ["write failed (10 times so far): the disk is full",
                          "write failed (100 times so far): the disk is full"]
    assert lines[3] == "write failed: the error above happened 250 times in all"
    assert lines[4] == "write failed: something else" and sink.records[4].exc_info  # a bug
    assert len(lines) == 5


def test_a_foreign_logger_is_quieted_and_a_malformed_request_has_no_traceback():
    log, sink = logger("test.repeated.foreign")
    log.addFilter(RepeatFilter())
    for _ in range(1000):
        try:
            raise BadStatusLine("garbage")
        except BadStatusLine:
            log.exception("Error handling request from %s", "peer")
    assert [r.getMessage() for r in sink.records] == [
        "Error handling request from peer: BadStatusLine: 400, message:\n  Bad status line "
        "'garbage'",
    ] + [f"Error handling request from peer: BadStatusLine: 400, message:\n  Bad status line "
         f"'garbage' ({n} times so far)" for n in (10, 100, 1000)]
    assert all(r.exc_info is None for r in sink.records)
