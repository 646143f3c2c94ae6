"""`send-notification`: the rendered subject and body through apprise, to every URL of a
notification block. Apprise is synchronous, so it runs in a thread and never blocks the loop;
its log lines for this send become the failure's `notification_log` (secrets scrubbed)."""

from __future__ import annotations

import asyncio
import contextvars
import logging

from ..envrefs import MissingEnv
from .blocks import Block, scrub, valid_apprise_url
from .executors import ActionResult, ActionRun
from .model import BlockAction
from .targets import ActionFailed


def find_block(run: ActionRun, kind: str) -> Block:
    """The block an action names (by name or id), which must be of `kind`."""
    action = run.action
    assert isinstance(action, BlockAction)
    blocks = run.blocks
    if action.block:
        block, named = blocks.get(name=action.block), f"named {action.block!r}"
    else:
        block, named = blocks.get(block_id=action.block_document_id), f"{action.block_document_id}"
    if block is None:
        raise ActionFailed(f"Block {named} not found (see `tocsin block ls`)")
    if block.kind != kind:
        raise ActionFailed(f"The referenced block was not a {kind} block")
    run.related.extend(block.resources())
    run.events.append(block.loaded_event())
    return block


_lines: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("apprise_log",
                                                                          default=None)


class _SendLog(logging.Handler):
    """Collects apprise's log records per send: apprise carries the context (and so our
    list) into the threads it sends from, so concurrent sends keep their lines apart."""

    def emit(self, record: logging.LogRecord) -> None:
        lines = _lines.get()
        if lines is not None:
            lines.append(f"{record.levelname} - {record.getMessage()}")


logging.getLogger("apprise").addHandler(_SendLog(logging.INFO))


def _send(urls: list[str], subject: str, body: str) -> tuple[bool, str]:
    import apprise

    lines: list[str] = []
    token = _lines.set(lines)
    try:
        # Sequential, in this thread: so its log lines are ours (concurrency comes from
        # running several sends in several threads).
        sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        for url in urls:
            sender.add(url)
        ok = bool(sender.notify(title=subject, body=body))
        return ok, "\n".join(lines)
    finally:
        _lines.reset(token)


def _last_problem(log_text: str) -> str:
    for line in reversed(log_text.splitlines()):
        level, _, message = line.partition(" - ")
        if level in ("WARNING", "ERROR", "CRITICAL"):
            return message
    return "apprise reported a failure"


def _urls(block: Block) -> list[str]:
    """The block's URLs with `{env:NAME}` resolved now; ActionFailed (not retried: the
    environment does not change under a running daemon) when that cannot give usable ones."""
    try:
        urls = block.send_urls()
    except MissingEnv as exc:
        raise ActionFailed(f"Notification failed: {exc}") from None
    for i, (typed, url) in enumerate(zip(block.urls, urls, strict=True)):
        if url != typed and not valid_apprise_url(url):
            raise ActionFailed(f"Notification failed: the block's URL #{i + 1}, with its "
                               "{env:...} references resolved, is not one apprise can use")
    return urls


async def send_notification(run: ActionRun) -> ActionResult:
    block = find_block(run, "notification")
    urls = _urls(block)
    timeout = run.settings.notification_timeout_s
    try:
        ok, log_text = await asyncio.wait_for(
            asyncio.to_thread(_send, urls, run.rendered["subject"], run.rendered["body"]),
            timeout)
    except TimeoutError:
        raise ActionFailed(f"Notification failed: no answer within {timeout:g}s", retry=True) from None
    if not ok:
        log_text = scrub(log_text, block.secrets())
        raise ActionFailed(f"Notification failed: {_last_problem(log_text)}", retry=True,
                           notification_log=log_text) from None
    return ActionResult()
