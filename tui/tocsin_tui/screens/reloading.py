"""A detail screen that reloads from the daemon every few seconds while shown, and on `r`."""

from __future__ import annotations

from typing import Any, ClassVar


class Reloading:
    """Mixed into a Screen that has a `load()` worker."""

    REFRESH_EVERY: ClassVar[float] = 1.0

    def on_mount(self) -> None:
        self.set_interval(self.REFRESH_EVERY, self.refresh_if_shown)  # type: ignore[attr-defined]
        self.load()

    def refresh_if_shown(self) -> None:
        if self.is_current:  # type: ignore[attr-defined]
            self.load()

    def action_refresh(self) -> None:
        self.load()

    def load(self) -> Any:
        raise NotImplementedError
