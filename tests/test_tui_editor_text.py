"""The automation editor keeps the user's text, warns of missing references while typing,
clears old notices on the next save and speaks of dashboard actions (regressions of issue 18)."""

from __future__ import annotations

from textual.widgets import Static
from tocsin_tui.app import TocsinApp
from tocsin_tui.automation_yaml import to_yaml
from tocsin_tui.screens.automation_editor import AutomationEditorScreen
from tocsin_tui.widgets.list_table import ListTable
from test_automation_daemon import cli
from test_automation_source import as_list_item
from tui_helpers import wait_for

TYPED = """\
# Tell ops when an order is stuck: read by people, keep this comment.
name: stuck-orders
trigger:
  type: event
  expect: [order.stuck]   # flow style, on purpose
  within: 0
  threshold: 1
  posture: Reactive
actions:
  - type: send-notification
    block: ops-mail
    body: |
      Order {{ event.resource.id }} is stuck.
      Look at it.
description: written by hand
"""

# The file applied: another automation, then TYPED as an item of the list.
SHOP = ("automations:\n  - name: big-orders\n    trigger: {type: event, expect: [order.big]}\n"
        "    actions: [{type: do-nothing}]\n\n" + as_list_item(TYPED))


def status(app: TocsinApp) -> str:
    return str(app.screen.query_one("#editor-status", Static).render())


def listed(app: TocsinApp) -> str:
    return str(app.screen.query_one("#editor-errors", Static).render())


async def open_new_editor(app: TocsinApp, pilot, text: str) -> AutomationEditorScreen:
    await pilot.press("2")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, AutomationEditorScreen),
                   what="the editor")
    editor = app.screen
    editor.editor.load_text(text)
    await wait_for(pilot, lambda: "valid" in status(app) or "error" in status(app),
                   what="the check")
    return editor


async def open_editor_on_row(app: TocsinApp, pilot, row: int) -> AutomationEditorScreen:
    table = app.screen_stack[0].query_one(ListTable)
    table.move_cursor(row=row)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, AutomationEditorScreen),
                   what="the editor")
    return app.screen


async def test_an_automation_applied_from_a_file_is_edited_as_typed_and_saved_as_typed(daemon):
    """Keys were reordered, `body: |` became a quoted string, `within: 0` became 0.0; and
    an automation applied with `apply -f` lost its text (the dashboard kept texts itself,
    on its own home, only for what it had saved)."""
    path = daemon.dir / "shop.yaml"
    path.write_text(SHOP)
    assert cli(daemon, "automation", "apply", "-f", str(path)).returncode == 0
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        table = app.screen_stack[0].query_one(ListTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="two automations")
        editor = await open_editor_on_row(app, pilot, 1)  # stuck-orders, after big-orders
        await wait_for(pilot, lambda: editor.editor.text == TYPED, what="the text as typed")
        # Saved from here, it is read again as typed.
        editor.editor.insert("# checked on Mondays\n", (0, 0))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AutomationEditorScreen),
                       what="saved")
        editor = await open_editor_on_row(app, pilot, 1)
        await wait_for(pilot, lambda: editor.editor.text == "# checked on Mondays\n" + TYPED,
                       what="the saved text")
        await pilot.press("escape")
        # Changed as JSON elsewhere (a script's PUT): the text no longer says what is stored,
        # so the daemon dropped it and the stored automation is written out readably.
        with daemon.client() as c:
            stored = c.request("GET", "/automations/name/stuck-orders")
            body = {k: v for k, v in stored.items() if k not in ("id", "created", "updated")}
            c.request("PUT", f"/automations/{stored['id']}", {**body, "enabled": False})
        await wait_for(pilot, lambda: "off" in str(table.get_row_at(1)[1]), what="disabled")
        editor = await open_editor_on_row(app, pilot, 1)
        await wait_for(pilot, lambda: "enabled: false" in editor.editor.text, what="rewrite")
        text = editor.editor.text
        assert "# Tell ops" not in text
        assert "body: |\n" in text and "within: 0\n" in text


async def test_a_paused_automation_shows_its_text_and_says_saving_would_enable_it(daemon):
    with daemon.client() as c:
        made = c.request("POST", "/automations/", {"yaml": TYPED})
        c.request("PATCH", f"/automations/{made['id']}", {"enabled": False})
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("2")
        table = app.screen_stack[0].query_one(ListTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the automation")
        editor = await open_editor_on_row(app, pilot, 0)
        await wait_for(pilot, lambda: any("paused since this text was saved" in n.message
                                          for n in app._notifications), what="the warning")
        assert editor.editor.text == TYPED


def test_to_yaml_writes_block_scalars_and_whole_numbers_as_a_person_would():
    automation = {"name": "n", "trigger": {"type": "event", "within": 0.0, "threshold": 1,
                                           "id": "x"},
                  "actions": [{"type": "do-nothing", "body": "a\nb\n"}]}
    text = to_yaml(automation)
    assert "within: 0\n" in text and "body: |\n    a\n    b\n" in text and "id:" not in text


async def test_missing_block_and_deployment_are_warnings_while_typing_and_saving_works(daemon):
    """An automation naming a block that does not exist was "✓ valid" until it fired."""
    text = TYPED.replace("description:", "  - type: run-deployment\n"
                         "    deployment_id: 0190c3a0-0000-7000-8000-000000000001\n"
                         "description:")
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_new_editor(app, pilot, text)
        await wait_for(pilot, lambda: "2 warnings" in status(app), what="the warnings")
        assert "✓ valid" in status(app)
        assert "line 11" in listed(app) and "no block named 'ops-mail'" in listed(app)
        assert "line 16" in listed(app) and "no deployment with id" in listed(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AutomationEditorScreen),
                       what="saved despite the warnings")


async def test_a_failed_save_clears_the_saved_notice_and_says_what_to_do_here(daemon):
    """After a failed save the earlier "Saved" notice stayed beside the error, and the error
    told a dashboard user to use `PUT /automations/...`."""
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_new_editor(app, pilot, TYPED)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AutomationEditorScreen),
                       what="saved")
        assert any(n.message.startswith("Saved") for n in app._notifications)
        await open_new_editor(app, pilot, TYPED)  # the same name again
        await wait_for(pilot, lambda: "another automation is named" in listed(app),
                       what="the warning while typing")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "error" in status(app), what="the refusal")
        assert "already exists" in listed(app) and "automations table" in listed(app)
        assert "PUT" not in listed(app) and "/automations" not in listed(app)
        assert not any(n.message.startswith("Saved") for n in app._notifications)
