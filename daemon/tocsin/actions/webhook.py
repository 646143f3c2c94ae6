"""`call-webhook`: the rendered payload sent to a webhook block's (or the action's inline)
url, method and headers, with the action's idempotency key in `Idempotency-Key`.

tocsin is stricter than Prefect: a non-2xx answer fails the action, with the status and the
start of the body. 5xx, 408, 429, timeouts and connection errors may pass and are retried;
other 4xx are not.
"""

from __future__ import annotations

import json

import aiohttp

from ..envrefs import MissingEnv
from ..events import lineage
from .blocks import TWO_CREDENTIALS, WebhookTarget, scrub, sends_two_credentials
from .executors import ActionResult, ActionRun
from .model import CallWebhook
from .notify import find_block
from .targets import ActionFailed

RESPONSE_BODY_CHARS = 1000
READ_LIMIT = 64 * 1024
_DROPPED_HEADERS = ("authorization", "traceparent", "via")
_DROPPED_PREFIXES = ("x-forwarded", "x-b3", "x-cloud-trace", "x-envoy", "x-prefect")
_RETRY_STATUSES = {408, 425, 429}

_session: aiohttp.ClientSession | None = None


def session() -> aiohttp.ClientSession:
    """One pooled client session for every webhook call (keep-alive to busy sinks)."""
    global _session
    if _session is None or _session.closed:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    return _session


async def close_session() -> None:
    global _session
    if _session is not None:
        await _session.close()
        _session = None


def _target(run: ActionRun) -> WebhookTarget:
    """The block's (or the action's inline) target, `{env:NAME}` resolved now; ActionFailed,
    not retried, for a target no call can reach (an unset variable, two credentials)."""
    action = run.action
    assert isinstance(action, CallWebhook)
    if action.url:
        typed = WebhookTarget(url=action.url, method=action.method or "POST",
                              headers=dict(action.headers))
    else:
        block = find_block(run, "webhook")
        assert block.webhook is not None
        typed = block.webhook
    try:
        target = typed.resolved()
    except MissingEnv as exc:
        raise ActionFailed(f"Webhook call failed: {exc}") from None
    if sends_two_credentials(target):
        raise ActionFailed(f"Webhook call failed: {TWO_CREDENTIALS}")
    return target


def _content_type(body: str) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def _kept_headers(headers: aiohttp.typedefs.LooseHeaders) -> dict[str, str]:
    return {k: v for k, v in dict(headers).items()
            if k.lower() not in _DROPPED_HEADERS and not k.lower().startswith(_DROPPED_PREFIXES)}


async def call_webhook(run: ActionRun) -> ActionResult:
    target = _target(run)
    body: str = run.rendered.get("payload", "")
    headers = {"Idempotency-Key": run.idempotency_key,
               lineage.HEADER: lineage.header(run.job.lineage), **target.headers}
    if body and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = _content_type(body)
    timeout = run.settings.webhook_timeout_s
    secrets = [target.url, *target.headers.values()]
    try:
        async with session().request(target.method, target.url, data=body.encode() if body else None,
                                     headers=headers, allow_redirects=False,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.content.read(READ_LIMIT)
            status, reason, resp_headers = resp.status, resp.reason, resp.headers
    except TimeoutError:
        raise ActionFailed(f"Webhook call failed: no answer within {timeout:g}s",
                           retry=True) from None
    except (aiohttp.ClientError, OSError) as exc:
        message = scrub(f"{type(exc).__name__}: {exc}", secrets)
        raise ActionFailed(f"Webhook call failed: {message}", retry=True) from None
    text = raw.decode("utf-8", errors="replace")
    details = {"status_code": status, "response_body": text[:RESPONSE_BODY_CHARS],
               "response_headers": _kept_headers(resp_headers)}
    if not 200 <= status < 300:
        start = " ".join(text[:200].split())
        raise ActionFailed(f"Webhook call failed: {status} {reason or ''}".rstrip()
                           + (f": {start}" if start else ""),
                           retry=status >= 500 or status in _RETRY_STATUSES, **details)
    return ActionResult(details=details)
