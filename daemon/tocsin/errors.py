"""One exception family for tocsin, so callers can tell our errors from bugs.

Each subclass belongs to one area; messages are written for the person who will read them:
what was wrong, where, and what to do about it.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Base of every error tocsin raises on purpose."""

    exit_code = 1


class InvalidInput(TocsinError):
    """Input that does not fit its schema; `errors` holds one (path, message) per problem."""

    exit_code = 65

    def __init__(self, errors: list[tuple[str, str]] | str, *, where: str = "") -> None:
        if isinstance(errors, str):
            errors = [(where, errors)]
        self.errors = errors
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in errors))

    def as_json(self) -> list[dict[str, str]]:
        """The shape the socket API returns in a 422 `detail`."""
        return [{"loc": p, "msg": m} for p, m in self.errors]


class ConfigError(TocsinError):
    """The TOML config (or a reload of it) is wrong; the old config stays in force."""

    exit_code = 78


class DaemonNotRunning(TocsinError):
    """Nothing answers on the socket."""

    exit_code = 3

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        super().__init__(
            f"tocsin daemon is not running (no answer on {socket_path}); "
            "start it with `tocsin daemon` or `systemctl --user start tocsin`"
        )


class DaemonAlreadyRunning(TocsinError):
    """Another daemon answers on the socket we were asked to use."""

    def __init__(self, socket_path: str) -> None:
        super().__init__(
            f"another tocsin daemon is already answering on {socket_path}; "
            "stop it first, or give this one its own --socket"
        )


class HomeInUse(TocsinError):
    """Another daemon holds this home's lock: one daemon per home (exit code 4)."""

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
    """The daemon answered with an error status."""

    def __init__(self, status: int, detail: object) -> None:
        self.status = status
        self.detail = detail
        super().__init__(_format_detail(status, detail))

    @classmethod
    def from_answer(cls, status: int, payload: object) -> ApiError:
        """From an error answer's JSON: its `detail` when it has one."""
        detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
        return cls(status, detail)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 65 if self.status in (400, 422) else 1


def _format_detail(status: int, detail: object) -> str:
    if isinstance(detail, list):
        parts = [f"{d.get('loc', '')}: {d.get('msg', '')}" if isinstance(d, dict) else str(d)
                 for d in detail]
        return f"daemon refused the request ({status}): " + "; ".join(parts)
    return f"daemon refused the request ({status}): {detail}"


class StoreError(TocsinError):
    """The event store could not take a write; `status` is the HTTP answer for it."""

    status = 503


class StoreFull(StoreError):
    """The disk under the database is full: writes wait for space, reads go on."""

    status = 507


class RowsRefused(StoreError):
    """This write's own rows cannot be stored (other callers' writes are not affected)."""

    status = 422


class StoreCorrupt(StoreError):
    """The database file is not one SQLite can read: the daemon cannot start on it."""

    exit_code = 78
