"""Where tocsin keeps things, and the TOML config file.

Every setting has an embedded default, so `tocsin daemon` runs with no file at all. A config
is parsed and validated whole before it replaces the running one (a bad reload keeps the old).
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from .errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_duration(value: str | float) -> timedelta:
    """Seconds as a number, or text like `90s`, `15m`, `7d`."""
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration (use seconds, or e.g. 90s, 15m, 7d)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


class WatchConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One `[[watch]]` table: a file or glob of event-log files to tail."""

    path: str
    format: Literal["jsonl", "regex"] = "jsonl"
    start: Literal["beginning", "end"] = "end"
    pattern: str | None = None
    template: str | None = None
    #: Names the source in `tocsin status` and its checkpoints (default: `path`).
    name: str | None = None
    #: Globs of paths under `path` not to read (rotated copies, for instance).
    exclude: list[str] = msgspec.field(default_factory=list)
    #: Longer lines are skipped and recorded as `tocsin.source.line-rejected`.
    max_line_bytes: int = 1024 * 1024
    #: Files not modified for this long are left alone until they change (e.g. "7d").
    ignore_older: str | int | None = None
    #: How long a rotated-away file is still read after its last byte.
    rotate_wait: str | int | float = "5s"


def _check_regex_source(i: int, w: WatchConfig) -> None:
    """A bad pattern or template is a config error (refused at start and on reload)."""
    from .templates import TemplateError, compile_template

    try:
        re.compile(w.pattern or "")
    except re.error as exc:
        raise ValueError(f"`watch[{i}].pattern` is not a valid regex: {exc}") from None
    try:
        compile_template(w.template or "")
    except TemplateError as exc:
        raise ValueError(f"`watch[{i}].template`: {exc}") from None


class WebhooksConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The incoming-webhook HTTP listener (off unless `enabled`)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8787


class PrefectApiConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`[prefect_api]`: the Prefect-compatible `/api` listener for Prefect clients (off unless
    `enabled`; an API key, read from the variable `api_key_env` names, when not loopback)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 4200
    api_key_env: str | None = None


class PrefectLinkConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One `[[forward]]` or `[[subscribe]]` table: a Prefect server's API URL, the variable
    holding its API key, and which events (`names`, `resource` as in `POST /events/filter`)."""

    url: str
    api_key_env: str | None = None
    names: list[str] = msgspec.field(default_factory=list)
    resource: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    #: Names the link in `tocsin status` and its durable cursor (default: `url`).
    name: str | None = None

    @property
    def key(self) -> str:
        return self.name or self.url


class Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    socket: str | None = None
    socket_mode: str = "0600"
    socket_group: str | None = None
    log_level: str = "INFO"
    retention: str | int = "7d"
    prune_interval: str | int = "10m"
    max_event_bytes: int = 1024 * 1024
    watch: list[WatchConfig] = msgspec.field(default_factory=list)
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)
    prefect_api: PrefectApiConfig = msgspec.field(default_factory=PrefectApiConfig)
    forward: list[PrefectLinkConfig] = msgspec.field(default_factory=list)
    subscribe: list[PrefectLinkConfig] = msgspec.field(default_factory=list)
    # Free-form tables for parts that read their own settings ([engine], [actions], [jobs]).
    engine: dict[str, Any] = msgspec.field(default_factory=dict)
    actions: dict[str, Any] = msgspec.field(default_factory=dict)
    jobs: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            int(self.socket_mode, 8)
        except ValueError:
            raise ValueError("`socket_mode` must be an octal string such as \"0660\"") from None
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(f"`log_level` must be one of {', '.join(LOG_LEVELS)}")
        parse_duration(self.retention)
        parse_duration(self.prune_interval)
        for table, known in (("engine", ("idle_ttl", "max_firings_per_minute")),
                             ("jobs", ("cancel_grace_seconds", "late_after_seconds"))):
            unknown = sorted(set(getattr(self, table)) - set(known))
            if unknown:
                raise ValueError(f"[{table}] has no setting {', '.join(unknown)} "
                                 f"(it has: {', '.join(known)})")
        for key, value in self.jobs.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`jobs.{key}` must be a number of seconds, not {value!r}")
        if self.max_event_bytes < 1024:
            raise ValueError("`max_event_bytes` must be at least 1024")
        for i, w in enumerate(self.watch):
            if w.format == "regex" and not (w.pattern and w.template):
                raise ValueError(f"`watch[{i}]` with format \"regex\" needs `pattern` and `template`")
            if w.format == "regex":
                _check_regex_source(i, w)
            if w.max_line_bytes < 64:
                raise ValueError(f"`watch[{i}].max_line_bytes` must be at least 64")
            if w.ignore_older is not None:
                parse_duration(w.ignore_older)
            parse_duration(w.rotate_wait)
        names = [w.name or w.path for w in self.watch]
        for i, name in enumerate(names):
            if name == "spool" or names.index(name) != i:
                raise ValueError(f"`watch[{i}]`: the source name {name!r} is taken (\"spool\" is "
                                 "the daemon's own); give it a distinct `name`")

        for table in ("forward", "subscribe"):
            keys = [link.key for link in getattr(self, table)]
            for i, link in enumerate(getattr(self, table)):
                if not link.url.startswith(("http://", "https://")):
                    raise ValueError(f"`{table}[{i}].url` must be a Prefect API URL such as "
                                     f"http://prefect.example:4200/api, not {link.url!r}")
                if keys.index(link.key) != i:
                    raise ValueError(f"`{table}[{i}]`: another [[{table}]] has the same "
                                     "`url`; give each a distinct `name`")

    @property
    def retention_delta(self) -> timedelta:
        return parse_duration(self.retention)

    @property
    def prune_every(self) -> timedelta:
        return parse_duration(self.prune_interval)


def load_config(path: Path | None) -> Config:
    """Parse and validate a config file (None: embedded defaults); raises ConfigError."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
