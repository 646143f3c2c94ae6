"""The TOML config file: one typed schema for every table, validated whole before it is used.

Every setting has an embedded default, so `tocsin daemon` runs with no file at all. A config
is parsed and validated whole — here, once — before it replaces the running one (a bad reload
keeps the old), and the parts read typed fields from it. Durations are decoded once, by
`durations.parse_duration`, into `Duration` (float seconds).

Adding a table is one struct and one field of `Config`; its `doc(...)` strings become the
README's config reference (`python -m tocsin.configdoc` prints it; a test keeps them equal).
"""

from __future__ import annotations

import random
import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from .durations import parse_duration
from .errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def doc(text: str, **constraints: Any) -> msgspec.Meta:
    """A setting's description (shown in the README's reference) and its bounds."""
    return msgspec.Meta(description=text, **constraints)


class Duration(float):
    """Seconds, written in the file as a number or as text such as `90s`, `15m`, `7d`, `PT1H`.

    It marks a field for the decoder only: once decoded the value is a plain float, which
    every part can use and any encoder can write."""

    @classmethod
    def decode(cls, value: Any) -> Duration:
        seconds = parse_duration(value).total_seconds()
        if seconds < 0:
            raise ValueError(f"{value!r} is negative; a duration must be 0 or more")
        return cls(seconds)


class Table(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every config table: unknown keys are refused, naming the table and the key."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if isinstance(value := getattr(self, name), Duration):
                setattr(self, name, float(value))


class EngineConfig(Table):
    """`[engine]`: the automation engine."""

    idle_ttl: Annotated[Duration, doc("A window that saw nothing for this long is forgotten "
                                      "(Prefect keeps them indefinitely; this bounds memory).")
                        ] = Duration(7 * 86400)
    loop_depth: Annotated[int, doc("Loop guard: an automation triggered again through its own "
                                   "actions' events (its causal chain, see "
                                   "events/lineage.py) more than this many times is "
                                   "paused; 0 turns the guard off.", ge=0)] = 3
    near_misses: Annotated[int, doc("Recent near-misses kept per automation (events that "
                                    "passed some criteria and failed others); 0 keeps none.",
                                    ge=0)] = 20


class ActionsConfig(Table):
    """`[actions]`: the durable action queue (outbox) and its retries."""

    concurrency: Annotated[int, doc("Actions run at once.", ge=1)] = 64
    max_attempts: Annotated[int, doc("Tries before an action is recorded as failed.", ge=1)] = 6
    retry_base_s: Annotated[float, doc("First retry delay, doubled on each retry.", ge=0)] = 0.5
    retry_max_s: Annotated[float, doc("The longest retry delay.", ge=0)] = 60.0
    webhook_timeout_s: Annotated[float, doc("Timeout of one `call-webhook` request.",
                                            gt=0)] = 10.0
    notification_timeout_s: Annotated[float, doc("Timeout of one `send-notification`.",
                                                 gt=0)] = 30.0
    scan_interval_s: Annotated[float, doc("How often the outbox is scanned for due retries.",
                                          gt=0)] = 5.0
    keep_done_s: Annotated[float, doc("How long finished actions stay listed by `GET "
                                      "/actions`.", ge=0)] = 7 * 86400.0
    ui_url: Annotated[str | None, doc("The dashboard's base URL for `ui_url` in templates "
                                      "(unset: the filter renders a `tocsin` command).")] = None

    def backoff(self, attempts: int) -> float:
        """Exponential with jitter: about base·2^(n-1), capped, scaled by 0.5–1.0."""
        return min(self.retry_max_s, self.retry_base_s * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)


class JobsConfig(Table):
    """`[jobs]`: local flow runs."""

    cancel_grace_seconds: Annotated[Duration, doc("How long a cancelled run has between "
                                                  "SIGTERM and SIGKILL.")] = Duration(5)
    late_after_seconds: Annotated[Duration, doc("A scheduled run not started this long after "
                                                "its time is marked Late.")] = Duration(15)


class WebhooksConfig(Table):
    """`[webhooks]`: the incoming-webhook HTTP listener (off unless `enabled`)."""

    enabled: Annotated[bool, doc("Listen for incoming webhooks.")] = False
    host: Annotated[str, doc("Address to listen on.")] = "127.0.0.1"
    port: Annotated[int, doc("Port to listen on.", ge=0, le=65535)] = 8787


class WatchConfig(Table):
    """`[[watch]]`: a file or glob of event-log files to tail."""

    path: Annotated[str, doc("A file or a glob (`**` allowed); relative to the config file.")]
    format: Annotated[Literal["jsonl", "regex"], doc(
        "`jsonl`: each line an event in Prefect's shape, `id`/`occurred` filled in when "
        "missing; `regex`: `pattern` picks lines and `template` renders the event's JSON.")
    ] = "jsonl"
    start: Annotated[Literal["beginning", "end"], doc(
        "Where to start in files present the first time the source runs; files found later "
        "are always read from their start.")] = "end"
    pattern: Annotated[str | None, doc("`regex` only: a regex with named groups.")] = None
    template: Annotated[str | None, doc(
        "`regex` only: Jinja (the shared sandbox; context: the groups, `groups`, `line`, "
        "`path`, `lineno`) rendering the event's JSON.")] = None
    template_time_limit: Annotated[Duration, doc(
        "`regex` only: a line whose template takes longer is stopped and recorded as "
        "`tocsin.source.line-rejected`. Lines are rendered on the daemon's event loop, so this "
        "stays far under the 100 ms in which `/health` must answer.")] = Duration(0.05)
    name: Annotated[str | None, doc("Names the source in `tocsin status` and its checkpoints "
                                    "(default: `path`).")] = None
    exclude: Annotated[list[str], doc("Globs of paths not to read, such as rotated copies (a "
                                      "bare pattern matches the file name).")
                       ] = msgspec.field(default_factory=list)
    max_line_bytes: Annotated[int, doc("Longer lines are skipped and recorded as "
                                       "`tocsin.source.line-rejected`.", ge=64)] = 1024 * 1024
    ignore_older: Annotated[Duration | None, doc("Files not modified for this long are left "
                                                 "alone until they change.")] = None
    rotate_wait: Annotated[Duration, doc("How long a rotated-away file is still read after "
                                         "its last byte.")] = Duration(5)
    follow_symlinks: Annotated[bool, doc("Follow symlinks below the watched folder wherever "
                                         "they point and whoever owns them (by default only to "
                                         "files inside the tree owned by this user or root; "
                                         "see below).")] = False


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


class PrefectApiConfig(Table):
    """`[prefect_api]`: the Prefect-compatible `/api` listener for Prefect clients (off unless
    `enabled`)."""

    enabled: Annotated[bool, doc("Serve Prefect's events and automations API under `/api`.")
                       ] = False
    host: Annotated[str, doc("Address to listen on; anything but loopback needs "
                             "`api_key_env`.")] = "127.0.0.1"
    port: Annotated[int, doc("Port to listen on.", ge=0, le=65535)] = 4200
    api_key_env: Annotated[str | None, doc("The environment variable holding the API key "
                                           "clients must send (Bearer, Basic or the websocket "
                                           "token).")] = None


class PrefectLinkConfig(Table):
    """`[[forward]]` / `[[subscribe]]`: a link to a Prefect server — tocsin's events sent to
    it, or its events stored here."""

    url: Annotated[str, doc("The Prefect API URL, e.g. `http://prefect.example:4200/api`.")]
    api_key_env: Annotated[str | None, doc("The environment variable holding its API key "
                                           "(Prefect Cloud; sent as `Bearer`).")] = None
    auth_string_env: Annotated[str | None, doc(
        "The environment variable holding the auth string of a self-hosted server secured "
        "with `PREFECT_SERVER_API_AUTH_STRING` (sent as HTTP Basic, as Prefect's client does); "
        "not with `api_key_env`.")] = None
    names: Annotated[list[str], doc("Event names (globs, `!` negation) as in `POST "
                                    "/events/filter`; empty: all.")
                     ] = msgspec.field(default_factory=list)
    resource: Annotated[dict[str, str | list[str]], doc(
        "Resource labels to match, as in `POST /events/filter`.")
    ] = msgspec.field(default_factory=dict)
    name: Annotated[str | None, doc("Names the link in `tocsin status` and its durable "
                                    "cursor (default: `url`).")] = None

    @property
    def key(self) -> str:
        return self.name or self.url


class Config(Table):
    """The top level: settings outside any table."""

    socket: Annotated[str | None, doc("The daemon's socket (default: $XDG_RUNTIME_DIR/tocsin/"
                                      "tocsin.sock, else in the home).")] = None
    socket_mode: Annotated[str, doc("The socket's mode, in octal: \"0660\" with `socket_group` "
                                    "shares the daemon with a group.")] = "0600"
    socket_group: Annotated[str | None, doc("The group that owns the socket.")] = None
    log_level: Annotated[str, doc("DEBUG, INFO, WARNING or ERROR.")] = "INFO"
    retention: Annotated[Duration, doc("Events older than this are pruned.")] = Duration(7 * 86400)
    prune_interval: Annotated[Duration, doc("How often old events are pruned.")] = Duration(600)
    max_event_bytes: Annotated[int, doc("Larger events are refused (422).", ge=1024)] = 1024 * 1024
    max_body_bytes: Annotated[int, doc("Larger request bodies (and `/events/in` messages) are "
                                       "refused (413).", ge=1024)] = 16 * 1024 * 1024
    max_bodies_in_flight_bytes: Annotated[int, doc(
        "All request bodies and `/events/in` messages being read or stored at once, together; "
        "past it a request waits up to 5 s for room, then gets 503 (a message, an error "
        "frame).", ge=1024)] = 32 * 1024 * 1024
    stop_grace: Annotated[Duration, doc("After SIGTERM or SIGINT the daemon exits within this, "
                                        "whatever it is waiting for.")] = Duration(10)
    max_wal_mb: Annotated[int, doc("The SQLite write-ahead log's bound on disk, in MiB: past "
                                   "half of it the writer checkpoints and truncates it.",
                                   ge=4)] = 64
    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    actions: ActionsConfig = msgspec.field(default_factory=ActionsConfig)
    jobs: JobsConfig = msgspec.field(default_factory=JobsConfig)
    webhooks: WebhooksConfig = msgspec.field(default_factory=WebhooksConfig)
    watch: list[WatchConfig] = msgspec.field(default_factory=list)
    prefect_api: PrefectApiConfig = msgspec.field(default_factory=PrefectApiConfig)
    forward: list[PrefectLinkConfig] = msgspec.field(default_factory=list)
    subscribe: list[PrefectLinkConfig] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            int(self.socket_mode, 8)
        except ValueError:
            raise ValueError("`socket_mode` must be an octal string such as \"0660\"") from None
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(f"`log_level` must be one of {', '.join(LOG_LEVELS)}")
        for i, w in enumerate(self.watch):
            if w.format == "regex" and not (w.pattern and w.template):
                raise ValueError(f"`watch[{i}]` with format \"regex\" needs `pattern` and `template`")
            if w.format == "regex":
                _check_regex_source(i, w)
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
                if link.api_key_env and link.auth_string_env:
                    raise ValueError(f"`{table}[{i}]`: set `api_key_env` (Prefect Cloud) or "
                                     "`auth_string_env` (a self-hosted server's auth string), "
                                     "not both")
                if keys.index(link.key) != i:
                    raise ValueError(f"`{table}[{i}]`: another [[{table}]] has the same "
                                     "`url`; give each a distinct `name`")


def load_config(path: Path | None) -> Config:
    """Parse and validate a config file (None: embedded defaults); raises ConfigError naming
    the file and every wrong setting, one a line."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    problems = problems_of(data)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    return _convert(data, Config)


def problems_of(data: dict[str, Any]) -> list[str]:
    """Every wrong setting: each top-level key and each `[[table]]` entry is checked on its
    own, so one mistake does not hide the next; then the file as a whole."""
    hints = typing.get_type_hints(Config)
    problems = []
    for key, value in data.items():
        if key not in hints:
            problems.append(_unknown(key, "$"))
            continue
        items = value if typing.get_origin(hints[key]) is list and isinstance(value, list) else None
        if items is None:
            problems.extend(_try({key: value}, Config, "$"))
        else:
            item_type = typing.get_args(hints[key])[0]
            for i, item in enumerate(items):
                problems.extend(_try(item, item_type, f"$.{key}[{i}]"))
    return problems or _try(data, Config, "$")


def _convert(data: Any, kind: type) -> Any:
    return msgspec.convert(data, kind, dec_hook=_decode)


def _decode(kind: type, value: Any) -> Any:
    if kind is Duration:
        return Duration.decode(value)
    raise NotImplementedError(kind)


def _try(data: Any, kind: type, at: str) -> list[str]:
    try:
        _convert(data, kind)
    except msgspec.ValidationError as exc:
        return [_explain(str(exc), at)]
    return []


_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(.*)`$")


def _explain(message: str, at: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.engine.x`" as "[engine] `x`: ..."."""
    text, where = _AT.match(message).groups()  # type: ignore[union-attr]
    where = at + (where or "")
    unknown = _UNKNOWN.match(text)
    if unknown:
        return _unknown(unknown.group(1), where)
    return f"{_place(where)}: {text}" if where != "$" else text


def _place(where: str) -> str:
    """`$.retention` -> `retention`; `$.engine.idle_ttl` -> [engine] `idle_ttl`;
    `$.watch[0].path` -> `watch[0].path`."""
    parts = where.removeprefix("$.").split(".", 1)
    if len(parts) == 2 and "[" not in parts[0]:
        return f"[{parts[0]}] `{parts[1]}`"
    return f"`{where.removeprefix('$.')}`"


def _unknown(key: str, where: str) -> str:
    """An unknown key, with the table it was found in and the keys that table has."""
    table = where.removeprefix("$").removeprefix(".")
    kind: Any = Config
    for part in filter(None, re.split(r"[.\[\]]", table)):
        if not part.isdigit():
            hint = typing.get_type_hints(kind)[part]
            kind = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
    known = ", ".join(f.name for f in msgspec.structs.fields(kind))
    if not table:
        return f"there is no top-level setting `{key}` (there are: {known})"
    name = f"[{table}]" if "[" not in table else f"`{table}`"
    return f"{name} has no setting `{key}` (it has: {known})"
