"""One exception family for tocsin, so callers can tell our errors from bugs.

Each class says once what its error means to everyone who meets it: `status` is the HTTP
status the socket API answers it with, `code` the stable name in that answer (a message may
be reworded, a code is not), `exit_code` what the `tocsin` command exits with (0 ok, 1 error,
3 daemon not running, 4 home in use, 65 bad input, 78 bad config).

A request handler raises; one middleware (`server.api.error_middleware`) answers
`{"detail": ..., "code": ...}` with the status, where `detail` is the message, or for
InvalidInput one `{"loc", "msg"}` per problem (the shape of Prefect's 422). The clients turn
an error answer back into the same class (`from_answer`), so a caller catches `NotFound`
whether the daemon said it or not. Errors about one request derive from ApiError, the ones
a client may raise from an answer; the others are about this machine (config, socket, home).

Messages are written for the person who will read them: what was wrong, where, and what to
do about it.
"""

from __future__ import annotations

from typing import Any


class TocsinError(Exception):
    """Base of every error tocsin raises on purpose."""

    status = 500
    code = "error"
    exit_code = 1

    def as_json(self) -> Any:
        """The `detail` of this error's answer: its message."""
        return str(self)

    def answer(self) -> dict[str, Any]:
        """The body the socket API answers this error with."""
        return {"detail": self.as_json(), "code": self.code}


class ConfigError(TocsinError):
    """The TOML config (or a reload of it) is wrong; the old config stays in force."""

    code = "config_error"
    exit_code = 78


class DaemonNotRunning(TocsinError):
    """Nothing answers on the socket."""

    code = "daemon_not_running"
    exit_code = 3

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        super().__init__(
            f"tocsin daemon is not running (no answer on {socket_path}); "
            "start it with `tocsin daemon` or `systemctl --user start tocsin`"
        )


class DaemonAlreadyRunning(TocsinError):
    """Another daemon answers on the socket we were asked to use."""

    code = "daemon_already_running"

    def __init__(self, socket_path: str) -> None:
        super().__init__(
            f"another tocsin daemon is already answering on {socket_path}; "
            "stop it first, or give this one its own --socket"
        )


class HomeInUse(TocsinError):
    """Another daemon holds this home's lock: one daemon per home."""

    code = "home_in_use"
    exit_code = 4

    def __init__(self, home: str, pid: str, socket_path: str,
                 waited: float | None = None) -> None:
        self.pid = pid
        self.socket_path = socket_path
        if waited is None:
            what = "is running"
            hint = "stop it first, or give this one its own --home"
        else:
            what = f"is still stopping after {waited:.0f}s"
            hint = "wait for it to exit, or kill it"
        super().__init__(f"another tocsin daemon (pid {pid}, socket {socket_path}) {what} on "
                         f"the home {home}; {hint}")


class ApiError(TocsinError):
    """An error about one request: the daemon answers it and carries on. Catch it for "the
    daemon refused" (as against DaemonNotRunning). Raised by a client from an error answer
    (`from_answer`), it carries the answer's `status` and `detail`; a bare ApiError is an
    answer with a code this tocsin does not know."""

    code = "api_error"
    #: The answer's `detail`, on an error a client raised from one.
    detail: Any = None


class InvalidInput(ApiError):
    """Input that does not fit its schema; `errors` holds one (path, message) per problem."""

    status = 422
    code = "invalid_input"
    exit_code = 65

    def __init__(self, errors: list[tuple[str, str]] | str, *, where: str = "") -> None:
        if isinstance(errors, str):
            errors = [(where, errors)]
        self.errors = errors
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in errors))

    def as_json(self) -> list[dict[str, str]]:
        return [{"loc": p, "msg": m} for p, m in self.errors]


class InvalidJson(InvalidInput):
    """A body that is not JSON at all (400, where JSON of the wrong shape is 422)."""

    status = 400
    code = "invalid_json"


class InvalidTemplate(InvalidInput):
    """A template the preview cannot render; the answer also carries Jinja's message and
    line apart, for an editor to mark the line."""

    code = "invalid_template"

    def __init__(self, message: str, line: int | None) -> None:
        self.message, self.line = message, line
        super().__init__([("template", f"line {line}: {message}" if line else message)])

    def answer(self) -> dict[str, Any]:
        return {**super().answer(), "message": self.message, "line": self.line}


class BadRequest(ApiError):
    """A request a webhook cannot make an event of (its template fails on it, or renders
    no valid event)."""

    status = 400
    code = "bad_request"
    exit_code = 65


class Unauthorized(ApiError):
    """A request without the key or signature its listener requires."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """A request for something this caller may not have (a page token tocsin never made)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """No object of that kind with that id or name."""

    status = 404
    code = "not_found"


class BodyTimeout(ApiError):
    """A request body that did not arrive in time."""

    status = 408
    code = "body_timeout"


class Conflict(ApiError):
    """A change the object's present state refuses: a name taken, a finished run moved."""

    status = 409
    code = "conflict"


class TooLarge(ApiError):
    """A request body over `max_body_bytes`."""

    status = 413
    code = "too_large"


class Busy(ApiError):
    """The daemon is reading too many large bodies at once; retrying soon will do."""

    status = 503
    code = "busy"


class ReaderDropped(ApiError):
    """A live reader (`/events/out`) that fell behind and was cut off. Never an HTTP answer
    (the stream says `dropped`); 499, as nginx names a request closed early."""

    status = 499
    code = "reader_dropped"


class StoreError(ApiError):
    """The event store could not take a write."""

    status = 503
    code = "store_unavailable"


class StoreFull(StoreError):
    """The disk under the database is full: writes wait for space, reads go on."""

    status = 507
    code = "store_full"


class RowsRefused(StoreError):
    """This write's own rows cannot be stored (other callers' writes are not affected)."""

    status = 422
    code = "rows_refused"
    exit_code = 65


class StoreCorrupt(StoreError):
    """The database file is not one SQLite can read: the daemon cannot start on it."""

    code = "store_corrupt"
    exit_code = 78


#: What a client may raise for an error answer: by the answer's code, else by its status
#: (the first class here with it), else a bare ApiError.
ANSWERS = (InvalidInput, InvalidJson, InvalidTemplate, BadRequest, Unauthorized, Forbidden,
           NotFound, BodyTimeout, Conflict, TooLarge, Busy, ReaderDropped, StoreError,
           StoreFull, RowsRefused, StoreCorrupt)
_BY_CODE = {cls.code: cls for cls in ANSWERS}
_BY_STATUS = {cls.status: cls for cls in reversed(ANSWERS)}  # reversed: the first one wins


def from_answer(status: int, payload: object) -> ApiError:
    """The error a client raises for an error answer: the class its `code` names (by
    `status` when it names none), with the answer's status and detail; its message, which
    the `tocsin` command prints, is "daemon refused the request (STATUS): DETAIL"."""
    detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
    code = payload.get("code") if isinstance(payload, dict) else None
    cls = _BY_CODE.get(code) if isinstance(code, str) else None
    cls = cls or _BY_STATUS.get(status, ApiError)
    exc = cls.__new__(cls)  # not cls(...): each class's own arguments are the raiser's
    Exception.__init__(exc, _format_detail(status, detail))
    exc.status, exc.detail = status, detail
    if isinstance(exc, InvalidInput):
        exc.errors = _errors(detail)
    return exc


def _errors(detail: object) -> list[tuple[str, str]]:
    """An answer's detail as InvalidInput's (path, message) pairs."""
    if not isinstance(detail, list):
        return [("", str(detail))]
    return [(str(d.get("loc", "")), str(d.get("msg", ""))) if isinstance(d, dict)
            else ("", str(d)) for d in detail]


def _format_detail(status: int, detail: object) -> str:
    if isinstance(detail, list):
        parts = [f"{d.get('loc', '')}: {d.get('msg', '')}" if isinstance(d, dict) else str(d)
                 for d in detail]
        return f"daemon refused the request ({status}): " + "; ".join(parts)
    return f"daemon refused the request ({status}): {detail}"
