"""Create or edit an automation as YAML, checked by the daemon as you type.

Validation goes through `POST /automations/validate` (nothing is saved), a moment after the
last keystroke; each error is listed under the editor with its line, and those lines are
marked in the editor. Saving re-checks, then creates (POST) or replaces (PUT) it.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static, TextArea
from tocsin.errors import ApiError

from ..automation_yaml import NEW_AUTOMATION, parse_one, template_at_line, to_yaml
from ..connection import OFFLINE_ERRORS
from ..widgets.marked_text_area import MarkedTextArea
from ..worker_errors import ReportWorkerErrors
from .confirm import ConfirmScreen

if TYPE_CHECKING:
    from ..app import TocsinApp

VALIDATE_AFTER = 0.3
HAS_YAML_HIGHLIGHT = find_spec("tree_sitter") is not None and find_spec("tree_sitter_yaml") \
    is not None


def yaml_editor(text: str) -> MarkedTextArea:
    # tab moves focus (YAML is indented with spaces), so that escape reaches "back".
    return MarkedTextArea(text, language="yaml" if HAS_YAML_HIGHLIGHT else None,
                          show_line_numbers=True, tab_behavior="focus", soft_wrap=False,
                          id="editor")


def error_lines_text(errors: list[dict[str, Any]]) -> Content:
    parts = []
    for e in errors:
        where = f"line {e['line']}" if e.get("line") else "—"
        loc = f"{e['loc']}: " if e.get("loc") else ""
        parts.append(Content.from_markup("[b $error]$where[/]  $loc$msg", where=where, loc=loc,
                                         msg=e.get("msg", "")))
    return Content("\n").join(parts)


class AutomationEditorScreen(ReportWorkerErrors, Screen[bool]):
    app: TocsinApp
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor.save", tooltip="Check and save to the daemon"),
        Binding("escape", "back", "Back", id="editor.back", key_display="esc",
                tooltip="Back to the table (asks if there are unsaved changes)"),
        Binding("ctrl+o", "template", "Template", id="editor.template",
                tooltip="Preview the template of the action under the cursor"),
    ]

    def __init__(self, automation: dict[str, Any] | None) -> None:
        super().__init__()
        self.automation = automation
        self.original = to_yaml(automation) if automation else NEW_AUTOMATION
        self.errors: list[dict[str, Any]] = []
        self._timer: Timer | None = None
        self.title = f"tocsin · edit {automation['name']}" if automation else \
            "tocsin · new automation"

    def compose(self) -> ComposeResult:
        yield Header()
        yield yaml_editor(self.original)
        yield Static("checking…", id="editor-status")
        with VerticalScroll(id="editor-errors-box"):
            yield Static(id="editor-errors")
        yield Footer()

    @property
    def editor(self) -> MarkedTextArea:
        return self.query_one("#editor", MarkedTextArea)

    def on_mount(self) -> None:
        self.editor.focus()
        self.validate()

    @on(TextArea.Changed)
    def text_changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(VALIDATE_AFTER, self.validate)

    # -- checking -------------------------------------------------------------------------
    @work(group="validate", exclusive=True, exit_on_error=False)
    async def validate(self) -> bool:
        """Ask the daemon; show the result. True when the text is a valid automation."""
        text = self.editor.text
        errors = await self.check(text)
        if errors is None:
            return False
        if text != self.editor.text:  # typed on meanwhile: a newer check is coming
            return False
        self.show_errors(errors)
        return not errors

    async def check(self, text: str) -> list[dict[str, Any]] | None:
        """The errors in `text` (empty: valid), or None when the daemon could not be asked."""
        try:
            result = await self.app.api("POST", "/automations/validate", {"yaml": text},
                                        what="validation")
        except ApiError as exc:
            return [{"loc": "", "msg": str(exc)}]
        if result is None:
            self.query_one("#editor-status", Static).update("not checked: daemon unreachable")
            return None
        errors = list(result.get("errors") or [])
        if not errors and len(result.get("automations") or []) != 1:
            errors.append({"loc": "", "msg": "the editor holds exactly one automation"})
        return errors

    def show_errors(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.editor.mark_errors({e["line"] - 1 for e in errors if e.get("line")})
        status = self.query_one("#editor-status", Static)
        if errors:
            status.update(Content.from_markup(
                f"[b $error]{len(errors)} error{'s' if len(errors) > 1 else ''}[/] "
                "— fix and ctrl+s to save"))
        else:
            status.update(Content.from_markup("[b $success]✓ valid[/] — ctrl+s saves it"))
        self.query_one("#editor-errors", Static).update(error_lines_text(errors))
        self.query_one("#editor-errors-box").display = bool(errors)

    # -- actions --------------------------------------------------------------------------
    @work(group="save", exclusive=True, exit_on_error=False)
    async def action_save(self) -> None:
        text = self.editor.text
        errors = await self.check(text)
        if errors is None:
            return
        self.show_errors(errors)
        if errors:
            self.notify("Not saved: the automation has errors (listed under the editor)",
                        severity="error", markup=False)
            return
        body = parse_one(text)
        method, path = ("PUT", f"/automations/{self.automation['id']}") if self.automation \
            else ("POST", "/automations/")
        try:
            saved = await self.app.connection.request(method, path, body)
        except ApiError as exc:
            detail = exc.detail if isinstance(exc.detail, list) else [{"msg": str(exc)}]
            self.show_errors([d if isinstance(d, dict) else {"msg": str(d)} for d in detail])
            return
        except OFFLINE_ERRORS as exc:
            self.notify(f"Not saved: {exc}", title="Daemon unreachable", severity="error",
                        markup=False)
            return
        name = saved.get("name", "") if isinstance(saved, dict) else ""
        self.notify(f"Saved {name}", markup=False)
        self.dismiss(True)

    @work(group="leave", exclusive=True, exit_on_error=False)
    async def action_back(self) -> None:
        if self.editor.text != self.original:
            sure = await self.app.push_screen_wait(
                ConfirmScreen("Leave the editor and lose the unsaved changes?", yes="Discard"))
            if not sure:
                return
        self.dismiss(False)

    def action_template(self) -> None:
        template = template_at_line(self.editor.text, self.editor.cursor_location[0])
        if template is None:
            self.notify("No action with a template (body, subject, payload, parameters)",
                        severity="warning", markup=False)
            return
        self.app.open_template(template=template)
