"""Blocks: named targets actions send to — notification blocks (one or more apprise URLs)
and webhook blocks (url, method, headers), as Prefect's notification and Webhook blocks.

Secrets live in those URLs and headers, so everything shown or logged goes through `masked`:
the URL as typed with the parts apprise calls secret replaced by `****`, and for webhooks the
password, query values and header values. They need not be stored at all: a URL or header
value may say `{env:NAME}` (see `tocsin.envrefs`), shown as typed and resolved at send time.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec

from ..envrefs import MASK, REF, has_refs, masked, resolve, resolved_values
from ..errors import InvalidInput
from ..events.model import Event, utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
);
"""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SAFE_HEADERS = {"content-type", "accept", "user-agent", "content-language"}
_URL_PARTS = re.compile(r"([/:@?&=#])")


class WebhookTarget(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = {}

    def resolved(self) -> WebhookTarget:
        """With `{env:NAME}` resolved now (MissingEnv when one is unset)."""
        return WebhookTarget(url=resolve(self.url), method=self.method,
                             headers={k: resolve(v) for k, v in self.headers.items()})


class BlockCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /blocks`: a notification block (`urls`) or a webhook block (`webhook`)."""

    name: str
    urls: list[str] | None = None
    webhook: WebhookTarget | None = None


class Block(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: Literal["notification", "webhook"]
    created: datetime
    urls: list[str] = []
    webhook: WebhookTarget | None = None

    @property
    def slug(self) -> str:
        return "apprise-notification" if self.kind == "notification" else "webhook"

    def masked(self) -> dict[str, Any]:
        """The block as it may be shown: no secret in it."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind,
                               "created": self.created.isoformat()}
        if self.kind == "notification":
            out["urls"] = [mask_apprise_url(u) for u in self.urls]
        else:
            assert self.webhook is not None
            out["webhook"] = {"url": mask_url(self.webhook.url), "method": self.webhook.method,
                              "headers": mask_headers(self.webhook.headers)}
        return out

    def resources(self) -> list[dict[str, str]]:
        """Related resources for action events (Prefect's roles `block` and `block-type`)."""
        return [{"prefect.resource.id": f"prefect.block-document.{self.id}",
                 "prefect.resource.role": "block", "prefect.resource.name": self.name},
                {"prefect.resource.id": f"prefect.block-type.{self.slug}",
                 "prefect.resource.role": "block-type"}]

    def loaded_event(self) -> Event:
        """`prefect.block.<slug>.loaded`, as Prefect emits when an action loads a block."""
        return Event(event=f"prefect.block.{self.slug}.loaded",
                     resource={"prefect.resource.id": f"prefect.block-document.{self.id}",
                               "prefect.resource.name": self.name},
                     related=[{"prefect.resource.id": f"prefect.block-type.{self.slug}",
                               "prefect.resource.role": "block-type"}])

    def secrets(self) -> list[str]:
        """Every URL and header value, as typed and as resolved, for scrubbing error text."""
        if self.kind == "notification":
            typed = list(self.urls)
        else:
            assert self.webhook is not None
            typed = [self.webhook.url, *self.webhook.headers.values()]
        return typed + [v for text in typed for v in resolved_values(text)]

    def send_urls(self) -> list[str]:
        """The apprise URLs with `{env:NAME}` resolved now (MissingEnv when one is unset)."""
        return [resolve(u) for u in self.urls]



def validate_block(data: BlockCreate) -> Block:
    """A new block from a create request; InvalidInput lists every problem."""
    errors: list[tuple[str, str]] = []
    if not _NAME.match(data.name):
        errors.append(("name", "a block name is letters, digits, '.', '_' or '-' (at most 100), "
                               "starting with a letter or digit"))
    if (data.urls is None) == (data.webhook is None):
        errors.append(("", "give either `urls` (a notification block) or `webhook` "
                           "(a webhook block), not both or neither"))
    if data.urls is not None:
        if not data.urls:
            errors.append(("urls", "give at least one apprise URL"))
        for i, url in enumerate(data.urls):
            # a URL with references is checked when it is resolved, at send time
            if not has_refs(url) and not valid_apprise_url(url):
                errors.append((f"urls[{i}]", f"{mask_url(url)} is not an apprise URL apprise can "
                                             "use (see https://github.com/caronc/apprise/wiki)"))
    if data.webhook is not None:
        errors += webhook_problems(data.webhook)
    for where, text in _typed_values(data):
        if text.count("{env:") != len(REF.findall(text)):
            errors.append((where, "a reference is {env:NAME} with NAME letters, digits and _"))
    if errors:
        raise InvalidInput(errors)
    return Block(id=str(uuid.uuid4()), name=data.name, created=utcnow(),
                 kind="notification" if data.urls is not None else "webhook",
                 urls=list(data.urls or []), webhook=data.webhook)


def webhook_problems(target: WebhookTarget) -> list[tuple[str, str]]:
    """Why calls to `target` could never work (empty when they can)."""
    problems = []
    if not target.url.startswith(("http://", "https://", "{env:")):
        problems.append(("webhook.url", "the webhook url must start with http:// or https://"))
    if sends_two_credentials(target):
        problems.append(("webhook.headers.Authorization", TWO_CREDENTIALS))
    return problems


TWO_CREDENTIALS = ("the url carries credentials (user:password@) and an Authorization header is "
                   "given too: a request can send only one; keep one of them")


def sends_two_credentials(target: WebhookTarget) -> bool:
    """A URL with user:password@ (which HTTP sends as an Authorization header) and an
    Authorization header of its own: no call can be made."""
    try:
        in_url = urlsplit(target.url).username is not None
    except ValueError:
        return False
    return in_url and any(k.lower() == "authorization" for k in target.headers)


def _typed_values(data: BlockCreate) -> list[tuple[str, str]]:
    """(field path, text) of every URL and header value a create request carries."""
    out = [(f"urls[{i}]", u) for i, u in enumerate(data.urls or [])]
    if data.webhook is not None:
        out.append(("webhook.url", data.webhook.url))
        out += [(f"webhook.headers.{k}", v) for k, v in data.webhook.headers.items()]
    return out


def valid_apprise_url(url: str) -> bool:
    import apprise

    return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


def mask_apprise_url(url: str) -> str:
    """The URL as typed, with the parts apprise knows are secret for its service (and the
    password and query values) hidden. Apprise's own privacy rendering is not shown: it
    rewrites the URL with its defaults, which is not what the user typed."""
    import apprise

    plugin = None if has_refs(url) else apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:  # references are shown as typed; the rest as any URL
        return mask_url(url)
    secret = _url_parts(plugin.url(privacy=False)) - _url_parts(plugin.url(privacy=True))
    return "".join(MASK if part in secret or unquote(part) in secret else part
                   for part in _URL_PARTS.split(mask_url(url)))


def _url_parts(url: str) -> set[str]:
    """The pieces between delimiters, also percent-decoded and split again (apprise writes
    `123:abc` as `123%3Aabc`)."""
    pieces = {p for p in _URL_PARTS.split(url) if p}
    pieces |= {q for p in pieces for q in _URL_PARTS.split(unquote(p)) if q}
    return {p for p in pieces if not _URL_PARTS.fullmatch(p)}


def mask_url(url: str) -> str:
    """The password, path tokens after the host, and every query value hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        netloc = (f"{user}:{masked(password)}@{host}" if colon
                  else f"{masked(userinfo)}@{host}")
    query = "&".join(f"{kv.split('=', 1)[0]}={masked(kv.split('=', 1)[1])}" if "=" in kv else kv
                     for kv in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v if k.lower() in _SAFE_HEADERS else masked(v) for k, v in headers.items()}


def scrub(text: str, secrets: list[str]) -> str:
    """Error text with every secret (URL, header value, URL password) replaced by ****."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
            password = urlsplit(secret).password if "://" in secret else None
            if password and len(password) >= 4:
                text = text.replace(password, MASK)
    return text


class BlockStore:
    """Blocks in SQLite, cached in memory (they are few and read on every action)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Block] = {}
        self._decoder = msgspec.json.Decoder(Block)

    async def load(self, store: Any) -> None:
        rows = await store.read_sql("SELECT data FROM blocks")
        self._by_name = {b.name: b for b in (self._decoder.decode(r[0]) for r in rows)}

    def list(self) -> list[Block]:
        return sorted(self._by_name.values(), key=lambda b: b.name)

    def get(self, name: str | None = None, block_id: str | None = None) -> Block | None:
        if name is not None:
            return self._by_name.get(name)
        return next((b for b in self._by_name.values() if b.id == block_id), None)

    async def create(self, store: Any, data: BlockCreate) -> Block:
        block = validate_block(data)
        if data.name in self._by_name:
            raise InvalidInput([("name", f"a block named {data.name!r} exists; delete it first")])
        await store.run([("INSERT INTO blocks (id, name, data) VALUES (?, ?, ?)",
                          [(block.id, block.name, msgspec.json.encode(block))])])
        self._by_name[block.name] = block
        return block

    async def delete(self, store: Any, name: str) -> bool:
        if name not in self._by_name:
            return False
        await store.run([("DELETE FROM blocks WHERE name = ?", [(name,)])])
        del self._by_name[name]
        return True
