"""One place that turns a failed background worker into a message on screen.

Workers run with exit_on_error=False so that one failed request never ends the dashboard;
without this, their failures would vanish silently. Every screen that starts workers (and
the app) mixes this in.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState


class ReportWorkerErrors:
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.app.notify(  # type: ignore[attr-defined]
                f"{event.worker.name or 'a background task'} failed: "
                f"{type(error).__name__}: {error}",
                title="Something went wrong", severity="error", timeout=10, markup=False)
