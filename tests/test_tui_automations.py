"""The automations screens against a real daemon: table, toggle, delete, editor, inspect."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual.widgets import DataTable
from tocsin.client.sync import build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.automation_yaml import template_at_line, to_yaml
from tocsin_tui.screens.automation_editor import AutomationEditorScreen
from tocsin_tui.screens.automation_inspect import InspectScreen
from tocsin_tui.screens.confirm import ConfirmScreen
from tocsin_tui.screens.templates import TemplateScreen
from tui_helpers import set_threshold, wait_for

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "automations" / "order-flow.yaml"

NOTIFY = {
    "name": "notify-paid", "description": "tell me",
    "trigger": {"type": "event", "expect": ["order.paid"], "posture": "Reactive",
                "threshold": 1, "within": 0},
    "actions": [{"type": "do-nothing"},
                {"type": "call-webhook", "block": "hook", "payload": "paid {{ event.id }}"}],
}


def create(daemon, automation: dict) -> dict:
    with daemon.client() as c:
        return c.request("POST", "/automations/", automation)


def get(daemon, aid: str) -> dict:
    with daemon.client() as c:
        return c.request("GET", f"/automations/{aid}")


def table_rows(app: TocsinApp) -> list[tuple[str, ...]]:
    table = app.screen_stack[0].query_one(DataTable)
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def open_automations(app: TocsinApp, pilot, rows: int):
    await wait_for(pilot, lambda: app.connection.connected, what="connection")
    await pilot.press("2")
    await wait_for(pilot, lambda: len(table_rows(app)) == rows, what=f"{rows} table rows")


async def test_table_lists_automations_and_space_toggles_enabled(daemon):
    made = create(daemon, yaml.safe_load(SAMPLE.read_text()))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_automations(app, pilot, 1)
        assert table_rows(app)[0][:3] == ("order-completed", "● on", "waiting")
        await pilot.press("space")
        await wait_for(pilot, lambda: table_rows(app)[0][1] == "○ off", what="disabled row")
        assert get(daemon, made["id"])["enabled"] is False


async def test_delete_asks_first_and_then_deletes(daemon):
    made = create(daemon, yaml.safe_load(SAMPLE.read_text()))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_automations(app, pilot, 1)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="question")
        await pilot.press("n")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="question")
        await pilot.press("y")
        await wait_for(pilot, lambda: table_rows(app) == [], what="empty table")
    with daemon.client() as c:
        assert [a["id"] for a in c.request("POST", "/automations/filter", {})] == []
    assert made["id"]


async def test_editor_shows_an_error_at_its_line_and_saving_the_fix_changes_the_daemon(daemon):
    made = create(daemon, yaml.safe_load(SAMPLE.read_text()))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_automations(app, pilot, 1)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AutomationEditorScreen), what="editor")
        editor = app.screen.editor
        row = set_threshold(editor, "lots")
        await wait_for(pilot, lambda: app.screen.errors, what="validation errors")
        assert any(e.get("line") == row + 1 and "threshold" in e["loc"] for e in app.screen.errors)
        assert editor.error_lines == {row}
        assert "line " + str(row + 1) in str(app.screen.query_one("#editor-errors").render())
        await pilot.press("ctrl+s")  # refused: nothing changes
        await pilot.pause(0.3)
        assert isinstance(app.screen, AutomationEditorScreen)
        assert get(daemon, made["id"])["trigger"]["threshold"] == 1
        set_threshold(editor, "3")
        await wait_for(pilot, lambda: not app.screen.errors and not editor.error_lines,
                       what="errors cleared")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AutomationEditorScreen),
                       what="editor closed after save")
    saved = get(daemon, made["id"])
    assert saved["trigger"]["threshold"] == 3 and saved["name"] == "order-completed"


async def test_new_automation_is_created_from_the_editor(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_automations(app, pilot, 0)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AutomationEditorScreen), what="editor")
        app.screen.editor.load_text(yaml.safe_dump(NOTIFY, sort_keys=False))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: [r[0] for r in table_rows(app)] == ["notify-paid"],
                       what="new row")


async def test_inspect_shows_a_live_bucket_and_a_firing(daemon):
    made = create(daemon, yaml.safe_load(SAMPLE.read_text()))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_automations(app, pilot, 1)
        with daemon.client() as c:
            c.emit([build_event("order.created", {"prefect.resource.id": "shop.order.5"})])
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen), what="inspect")
        buckets = app.screen.query_one("#buckets", DataTable)
        await wait_for(pilot, lambda: buckets.row_count == 1, what="a live bucket")
        assert "shop.order.5" in str(buckets.get_row_at(0))
        with daemon.client() as c:
            c.emit([build_event("order.complete", {"prefect.resource.id": "shop.order.5"})])
        firings = app.screen.query_one("#firings", DataTable)
        await wait_for(pilot, lambda: firings.row_count == 1, what="a firing")
        row = [str(c) for c in firings.get_row_at(0)]
        assert row[1] == "triggered" and row[2] == "order.complete"
        await wait_for(pilot, lambda: str(firings.get_row_at(0)[3]) == "do-nothing ✓ done",
                       what="the action's outcome")
        await pilot.press("escape")
        await wait_for(pilot, lambda: table_rows(app)[0][4] == "1", what="times fired")
    assert made["id"]


async def test_template_preview_opens_with_an_actions_template(daemon):
    create(daemon, NOTIFY)
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_automations(app, pilot, 1)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplateScreen), what="preview")
        await wait_for(pilot, lambda: app.screen.editor.text == "paid {{ event.id }}",
                       what="the action's template")


def test_yaml_round_trip_and_template_at_line():
    text = to_yaml({**NOTIFY, "id": "x", "created": "t", "actions_on_trigger": []})
    assert "id:" not in text and "created" not in text and "actions_on_trigger" not in text
    assert yaml.safe_load(text)["actions"] == NOTIFY["actions"]
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "call-webhook" in line)
    assert template_at_line(text, at) == "paid {{ event.id }}"
    assert template_at_line(text, 0) == "paid {{ event.id }}"  # falls back to the first one
    assert template_at_line("name: [", 0) is None


async def test_names_with_brackets_are_shown_as_written_not_read_as_markup(daemon):
    weird = {**NOTIFY, "name": "deploy [prod] [/] $x"}
    create(daemon, weird)
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_automations(app, pilot, 1)
        table = app.screen.query_one(DataTable)
        drawn = "".join(segment.text for segment in table.render_line(1))  # row 0, under header
        assert drawn.startswith(" deploy [prod] [/] $x ")
        await pilot.press("space")  # its notification carries the name too
        await wait_for(pilot, lambda: table_rows(app)[0][1] == "○ off", what="disabled row")
        await pilot.pause(0.2)
        toasts = [str(t.render()) for t in app.screen.query("Toast")]
        assert any("deploy [prod] [/] $x disabled" in t for t in toasts), toasts


async def test_leaving_the_editor_with_unsaved_changes_asks_first(daemon):
    create(daemon, yaml.safe_load(SAMPLE.read_text()))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_automations(app, pilot, 1)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AutomationEditorScreen), what="editor")
        await pilot.press("x", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="question")
        await pilot.press("n")
        assert isinstance(app.screen, AutomationEditorScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="question")
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (AutomationEditorScreen,
                                                                  ConfirmScreen)),
                       what="back at the table")
