"""The template preview against a real daemon's /templates/render."""

from __future__ import annotations

import json

from tocsin.client.sync import build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.screens.event_pick import PasteEventScreen, PickEventScreen
from tocsin_tui.screens.templates import TemplateScreen
from tui_helpers import wait_for


def output(app: TocsinApp) -> str:
    return str(app.screen.query_one("#template-output").render())


def status(app: TocsinApp) -> str:
    return str(app.screen.query_one("#template-status").render())


async def test_preview_renders_a_chosen_event_and_shows_errors_with_their_line(daemon):
    chosen = build_event("order.created", {"prefect.resource.id": "shop.order.77"},
                         payload={"total": 12})
    with daemon.client() as c:
        c.emit([chosen, build_event("other.thing", {"prefect.resource.id": "x.1"})])
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: any(e["id"] == chosen["id"] for e in app.feed.events),
                       what="the event in the feed")
        await pilot.press("3")
        assert isinstance(app.screen, TemplateScreen)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, PickEventScreen)
        index = next(i for i, e in enumerate(app.screen.choices) if e["id"] == chosen["id"])
        app.screen.query_one("#pick-list").highlighted = index
        await pilot.press("enter")
        assert isinstance(app.screen, TemplateScreen) and app.screen.event["id"] == chosen["id"]
        app.screen.editor.load_text("Order {{ event.resource.id }}: {{ event.payload.total }}")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: output(app) == "Order shop.order.77: 12", what="render")
        assert "rendered" in status(app)

        app.screen.editor.load_text("fine\n{{ event.event }\n")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "error" in status(app), what="the error")
        assert "line 2" in status(app)
        assert app.screen.editor.error_lines == {1}


async def test_typing_renders_live_and_a_pasted_event_is_used(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        await pilot.press("3", "ctrl+g")
        assert isinstance(app.screen, PasteEventScreen)
        pasted = {"event": "pasted.event", "resource": {"prefect.resource.id": "p.1"},
                  "payload": {"who": "me"}}
        app.screen.query_one("#paste-text").load_text(json.dumps(pasted))
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, TemplateScreen) and app.screen.pasted
        app.screen.editor.load_text("")
        await pilot.press(*"{{ event.payload.who }}@{{ event.event }}")
        await wait_for(pilot, lambda: output(app) == "me@pasted.event", what="live render")
