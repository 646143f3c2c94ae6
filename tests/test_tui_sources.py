"""The dashboard's sources, blocks and status screens against a real daemon with a real
watched file and a real webhook called over HTTP; the help and the user's keymap."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from textual.widgets import Static
from tocsin_tui.app import TocsinApp
from tocsin_tui.screens.help import help_markdown
from tocsin_tui.widgets.event_list import EventList
from tocsin_tui.widgets.list_table import ListTable
from tui_helpers import wait_for


@pytest.fixture
def watched(make_daemon, tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text("".join(json.dumps({"event": f"app.e{i}", "resource": {
        "prefect.resource.id": "app.x"}}) + "\n" for i in range(3)) + "not json\n")
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[[watch]]\npath = "{log}"\nformat = "jsonl"\nstart = "beginning"\n\n'
                      '[webhooks]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n')
    d = make_daemon(config=config).start()
    d.watched_log = log
    return d


def call(req: urllib.request.Request) -> int:
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def cells(table: ListTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_sources_show_a_watched_files_counters_the_spool_and_a_called_webhook(watched):
    with watched.client() as c:
        hook = c.request("POST", "/webhooks", {"name": "deploys",
                                               "template": '{"event": "deploy.done", '
                                               '"resource": {"prefect.resource.id": "ci"}}'})
    req = urllib.request.Request(hook["url"], data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    assert await asyncio.to_thread(call, req) < 300
    app = TocsinApp(str(watched.socket), autostart=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("7")
        table = app.screen.query_one(ListTable)

        def row(kind: str) -> list[str]:
            return next((r for r in cells(table) if r[1] == kind), [])

        await wait_for(pilot, lambda: row("file") and row("file")[3] == "3",
                       what="the watched file's counters")
        source, _, lines, events, rejected, lag, _, _ = row("file")
        assert source.endswith("app.jsonl")
        assert (lines, events, rejected, lag) == ("4", "3", "1", "0 B")
        assert row("spool")[0] == "spool"
        await wait_for(pilot, lambda: row("webhook")[-2] not in ("", "—"),
                       what="the webhook's last call")
        head, _, tail = row("webhook")[-1].partition("…")  # the URL, maybe cut in the middle
        assert row("webhook")[0] == "deploys" and hook["url"].startswith(head)
        assert hook["url"].endswith(tail) and len(tail) >= 8
        assert "webhook listener: listening on 127.0.0.1:" in str(
            app.screen.query_one("#list-status", Static).render())
        # More lines: the counters move on.
        with watched.watched_log.open("a") as f:
            f.write(json.dumps({"event": "app.more", "resource": {
                "prefect.resource.id": "app.x"}}) + "\n")
        await wait_for(pilot, lambda: row("file")[3] == "4", what="the new line counted")


async def test_blocks_are_listed_masked_and_status_shows_store_and_wal_sizes(daemon):
    with daemon.client() as c:
        c.request("POST", "/blocks", {"name": "ops-mail",
                                      "urls": ["mailto://ops:hunter22@example.com"]})
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("8")
        table = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the block")
        name, kind, target, _ = cells(table)[0]
        assert (name, kind) == ("ops-mail", "notification")
        assert "hunter22" not in target and "mailto://" in target
        await pilot.press("9")
        summary = app.screen.query_one("#status-summary", Static)
        await wait_for(pilot, lambda: "WAL" in str(summary.render()), what="the status")
        text = str(summary.render())
        assert f"pid {daemon.proc.pid}" in text and str(daemon.home) in text
        assert "store 0 B" not in text  # the store file has a size
        status = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: status.row_count > 10, what="the counters")
        parts = {r[0] for r in cells(status)}
        assert {"engine", "actions", "jobs", "webhooks"} <= parts


async def test_help_lists_every_screens_keys_and_the_keymap_file_rebinds_by_id(
        daemon, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\n"list.down" = "n,down"\n"feed.pause" = "p"\n"no.such" = "x"\n')
    monkeypatch.setenv("TOCSIN_KEYMAP", str(keymap))
    with daemon.client() as c:
        c.emit([{"event": f"k.e{i}", "resource": {"prefect.resource.id": "k"}}
                for i in range(5)])
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        events = app.screen.query_one(EventList)
        await wait_for(pilot, lambda: len(events.rows) >= 5, what="backfill")
        await pilot.press("p")  # rebound: pause
        assert not events.following
        await pilot.press("g", "n")  # rebound: down
        assert events.cursor == 1
        assert any("no.such" in n.message for n in app._notifications)
        # What the help screen (?) shows, without rendering its Markdown (slow in a test).
        text = help_markdown(app.keymap, app.get_key_display)
        for title in ("Events (1)", "Deployments (4)", "Flow runs (5)", "Work pools (6)",
                      "Sources (7)", "Blocks (8)", "Daemon status (9)", "In every list",
                      "Flow run"):
            assert f"## {title}" in text
        assert "| `p` | Pause" in text and "| feed.pause |" in text  # as rebound
        assert "| `n ↓` | Down" in text
        assert "| `r` | Run" in text and "deployments.run" in text
