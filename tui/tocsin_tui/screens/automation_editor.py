"""Create or edit an automation as YAML, checked by the daemon as you type.

Validation goes through `POST /automations/validate` (nothing is saved), a moment after the
last keystroke; each error is listed under the editor with its line, and those lines are
marked in the editor. Names of blocks, deployments, pools, queues and automations that do
not exist are listed as warnings (the automation is valid; its action would fail). Saving
re-checks, then sends the text as typed: the daemon creates or replaces the automation from
it and keeps the text, which the editor shows the next time (from any dashboard, on any home).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import yaml
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static, TextArea
from tocsin.client.resources import API
from tocsin.errors import ApiError

from ..automation_yaml import (
    NEW_AUTOMATION,
    missing_references,
    template_at_line,
    to_yaml,
)
from ..connection import OFFLINE_ERRORS
from ..widgets.marked_text_area import MarkedTextArea
from ..worker_errors import ReportWorkerErrors
from .confirm import ConfirmScreen

if TYPE_CHECKING:
    from ..dashboard import Dashboard

VALIDATE_AFTER = 0.3
CATALOGUE_AGE = 5.0  # seconds the lists of blocks, deployments… are reused while typing
HAS_YAML_HIGHLIGHT = find_spec("tree_sitter") is not None and find_spec("tree_sitter_yaml") \
    is not None


def yaml_editor(text: str) -> MarkedTextArea:
    # tab moves focus (YAML is indented with spaces), so that escape reaches "back".
    return MarkedTextArea(text, language="yaml" if HAS_YAML_HIGHLIGHT else None,
                          show_line_numbers=True, tab_behavior="focus", soft_wrap=False,
                          id="editor")


def error_lines_text(errors: list[dict[str, Any]],
                     warnings: Sequence[dict[str, Any]] = ()) -> Content:
    parts = []
    for colour, found in (("$error", errors), ("$warning", warnings)):
        for e in found:
            where = f"line {e['line']}" if e.get("line") else "—"
            loc = f"{e['loc']}: " if e.get("loc") else ""
            parts.append(Content.from_markup(f"[b {colour}]$where[/]  $loc$msg", where=where,
                                             loc=loc, msg=e.get("msg", "")))
    return Content("\n").join(parts)


def for_dashboard(error: dict[str, Any]) -> dict[str, Any]:
    """The daemon's words for API clients, said as what to do here instead."""
    msg = str(error.get("msg", ""))
    if error.get("loc") == "name" and "already exists" in msg:
        return {**error, "msg": msg.split(";")[0] + "; give this one another name, or leave "
                "(esc) and edit that one from the automations table"}
    return error


class AutomationEditorScreen(ReportWorkerErrors, Screen[bool]):
    app: Dashboard
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
        self.warnings: list[dict[str, Any]] = []
        self.known: dict[str, set[str]] | None = None
        self.known_at = 0.0
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
        if self.automation is not None:
            self.load_source()
        self.validate()

    @work(group="source", exclusive=True, exit_on_error=False)
    async def load_source(self) -> None:
        """Show the text the daemon keeps for this automation (as it was last written, with
        `apply -f` or here), if it has one; else the readable rewrite stays."""
        assert self.automation is not None
        try:
            kept = await self.app.api(API.automations.source(self.automation["id"]),
                                      quiet=True)
        except ApiError:  # deleted meanwhile: saving will say so
            return
        text = (kept or {}).get("source")
        if not text or self.editor.text != self.original:  # none, or typed in meanwhile
            return
        self.original = text
        self.editor.load_text(text)
        checked = await self.check(text)
        written = checked[1] if checked else None
        if written is not None and written["enabled"] != self.automation["enabled"]:
            now = "enabled" if self.automation["enabled"] else "paused"
            self.notify(f"It is {now} since this text was saved; saving sets it to "
                        f"enabled: {str(written['enabled']).lower()}", severity="warning",
                        markup=False)

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
        checked = await self.check(text)
        if checked is None:
            return False
        errors, _ = checked
        if text != self.editor.text:  # typed on meanwhile: a newer check is coming
            return False
        self.show_errors(errors, await self.check_references(text))
        return not errors

    async def check(self, text: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None] | None:
        """The daemon's errors in `text` (empty: valid) and the automation it reads there,
        or None when the daemon could not be asked."""
        try:
            result = await self.app.api(API.automations.validate(text),
                                        what="validation")
        except ApiError as exc:
            return [{"loc": "", "msg": str(exc)}], None
        if result is None:
            self.query_one("#editor-status", Static).update("not checked: daemon unreachable")
            return None
        errors = list(result.get("errors") or [])
        found = result.get("automations") or []
        if not errors and len(found) != 1:
            errors.append({"loc": "", "msg": "the editor holds exactly one automation"})
        return errors, found[0] if len(found) == 1 and not errors else None

    async def catalogue(self) -> dict[str, set[str]]:
        """The names and ids of what actions may refer to, as the daemon has them now
        (reused for a few seconds while typing). A list the daemon did not give is left
        out, so that nothing is flagged for it."""
        if self.known is not None and time.monotonic() - self.known_at < CATALOGUE_AGE:
            return self.known
        api = self.app.api
        blocks, deployments, pools, automations = await asyncio.gather(
            api(API.blocks.list(), quiet=True), api(API.deployments.list(), quiet=True),
            api(API.work_pools.list(), quiet=True),
            api(API.automations.list(), quiet=True), return_exceptions=True)
        known: dict[str, set[str]] = {}
        if isinstance(blocks, list):
            known["block names"] = {b["name"] for b in blocks}
            known["block ids"] = {b["id"] for b in blocks}
        if isinstance(deployments, list):
            known["deployment ids"] = {d["id"] for d in deployments}
        if isinstance(pools, list):
            known["work pool ids"] = {p["id"] for p in pools}
            queues = await asyncio.gather(*(
                api(API.work_pools.queues(p["name"]), quiet=True)
                for p in pools), return_exceptions=True)
            if all(isinstance(q, list) for q in queues):
                known["work queue ids"] = {q["id"] for qs in queues for q in qs}
        if isinstance(automations, list):
            known["automation ids"] = {a["id"] for a in automations}
            own = self.automation["id"] if self.automation else None
            known["other automation names"] = {a["name"] for a in automations
                                               if a["id"] != own}
        self.known, self.known_at = known, time.monotonic()
        return known

    async def check_references(self, text: str) -> list[dict[str, Any]]:
        """Warnings for what the text names but the daemon does not have."""
        known = await self.catalogue()
        warnings = missing_references(text, known)
        try:
            name = (yaml.safe_load(text) or {}).get("name")
        except (yaml.YAMLError, AttributeError):
            name = None
        if isinstance(name, str) and name in known.get("other automation names", ()):
            warnings.insert(0, {"loc": "name", "msg": f"another automation is named {name!r}: "
                                "saving will be refused; give this one another name"})
        return warnings

    def show_errors(self, errors: list[dict[str, Any]],
                    warnings: list[dict[str, Any]] | None = None) -> None:
        self.errors = [for_dashboard(e) for e in errors]
        if warnings is not None:
            self.warnings = warnings
        self.editor.mark_errors({e["line"] - 1 for e in errors if e.get("line")})
        status = self.query_one("#editor-status", Static)
        warned = ""
        if self.warnings:
            n = len(self.warnings)
            warned = f" · [b $warning]{n} warning{'s' if n > 1 else ''}[/]"
        if errors:
            status.update(Content.from_markup(
                f"[b $error]{len(errors)} error{'s' if len(errors) > 1 else ''}[/]{warned} "
                "— fix and ctrl+s to save"))
        else:
            status.update(Content.from_markup(
                f"[b $success]✓ valid[/]{warned} — ctrl+s saves it"))
        self.query_one("#editor-errors", Static).update(
            error_lines_text(self.errors, self.warnings))
        self.query_one("#editor-errors-box").display = bool(self.errors or self.warnings)

    # -- actions --------------------------------------------------------------------------
    @work(group="save", exclusive=True, exit_on_error=False)
    async def action_save(self) -> None:
        self.app.clear_notifications()  # what the last attempt said no longer holds
        text = self.editor.text
        checked = await self.check(text)
        if checked is None:
            return
        errors, automation = checked
        self.show_errors(errors, await self.check_references(text))
        if errors or automation is None:
            self.notify("Not saved: the automation has errors (listed under the editor)",
                        severity="error", markup=False)
            return
        body = {"yaml": text}  # the daemon reads it again, and keeps it as typed
        call = API.automations.replace(self.automation["id"], body) if self.automation \
            else API.automations.create(body)
        try:
            saved = await self.app.connection.send(call)
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
