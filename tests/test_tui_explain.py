"""The dashboard's "why" views against a real daemon (issue 17): the traces and near-misses
of one automation (inspect, then `w`), and which automations looked at an event (`w` on an
event's detail screen)."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual.widgets import DataTable, Static
from tocsin.client.sync import build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.screens.automation_traces import TracesScreen
from tocsin_tui.screens.event_detail import EventDetailScreen
from tocsin_tui.screens.event_explain import EventExplainScreen
from tui_helpers import wait_for

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "automations" / "woodchonk.yaml"
MONAX = {"genus": "Marmota", "species": "monax"}


def walk(i: int, **labels: str) -> dict:
    return build_event("animal.walked", {"prefect.resource.id": f"animal.{i}", **MONAX, **labels})


async def test_traces_and_near_misses_of_an_automation_then_why_not_for_an_event(daemon):
    with daemon.client() as c:
        c.request("POST", "/automations/", yaml.safe_load(SAMPLE.read_text()))
        capital = walk(9, species="Monax")
        c.emit([capital, walk(1), walk(2), walk(3)])
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        await pilot.press("2")
        await pilot.pause(0.3)
        await pilot.press("i")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "InspectScreen",
                       what="inspect")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TracesScreen), what="traces")
        traces = app.screen.query_one("#traces", DataTable)
        near = app.screen.query_one("#near-misses", DataTable)
        await wait_for(pilot, lambda: traces.row_count == 1 and near.row_count == 1,
                       what="a trace and a near-miss")
        row = [str(c) for c in traces.get_row_at(0)]
        assert row[1] == "waiting → triggered" and row[2] == "3"
        assert row[3].startswith("do-nothing")
        detail = str(app.screen.query_one("#trace-detail", Static).render())
        assert "counted animal.walked" in detail
        miss = [str(c) for c in near.get_row_at(0)]
        assert miss[1:4] == ["animal.walked", "animal.9", "match"]
        assert "wanted monax, got Monax (nearest: monax, differs by case)" in miss[4]

        await pilot.press("escape")
        app.push_screen(EventDetailScreen(capital))
        await pilot.pause(0.1)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, EventExplainScreen), what="why")
        body = app.screen.query_one("#explain-body", Static)
        await wait_for(pilot, lambda: "woodchonk:" in str(body.render()), what="explanation")
        text = str(body.render())
        assert "woodchonk: ignored: match failed on species" in text
        assert "species: FAILED wanted monax, got Monax" in text
