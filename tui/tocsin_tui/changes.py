"""Asking the daemon for a change from a screen: confirm first when asked to, then say how it
went (the daemon's own message when it refused). One place, so every screen words it alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from tocsin.client.resources import API, Call
from tocsin.errors import ApiError

from .connection import OFFLINE_ERRORS
from .screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from .dashboard import Dashboard

# Flow run operations: op -> (what it is when done, the question asked first or None).
RUN_OPS = {
    "cancel": ("cancelled", "Cancel the flow run {name}? Its process is stopped."),
    "suspend": ("suspended", ("Suspend the flow run {name}? Its process is stopped; resume "
                              "starts it again.")),
    "resume": ("resumed", None),
}


async def request_change(screen: Screen, call: Call, done: str,
                         confirm: str | None = None) -> Any:
    """The daemon's answer to the change, or None when the user said no or it failed."""
    app: Dashboard = screen.app  # type: ignore[assignment]
    if confirm and not await app.push_screen_wait(ConfirmScreen(confirm, yes="Yes")):
        return None
    try:
        answer = await app.connection.send(call)
    except (ApiError, *OFFLINE_ERRORS) as exc:
        screen.notify(str(exc), title=f"Not {done}", severity="error", markup=False)
        return None
    screen.notify(done[:1].upper() + done[1:], markup=False)
    return answer


async def run_op(screen: Screen, run: dict[str, Any], op: str) -> Any:
    """Cancel, suspend or resume a flow run (asking first where it stops a process)."""
    done, question = RUN_OPS[op]
    name = run.get("name", run["id"])
    call = getattr(API.runs, op)(run["id"], "from the dashboard")
    return await request_change(screen, call, f"{name} {done}",
                                question.format(name=name) if question else None)
