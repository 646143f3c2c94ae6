"""The YAML text each automation was last saved from in the dashboard, kept as typed
(comments, key order, block scalars), so that editing it again shows that text and not a
re-serialisation of the stored JSON.

The daemon keeps the automation itself; this keeps only the words. A text is used again
only while the daemon says it defines exactly the stored automation (it was not changed
elsewhere since): see AutomationEditorScreen.restore_text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tocsin.paths import default_home

SAFE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def texts_dir() -> Path:
    return default_home() / "dashboard" / "automations"


def saved_text(automation_id: str, directory: Path | None = None) -> str | None:
    if not SAFE_ID.match(automation_id):
        return None
    try:
        return ((directory or texts_dir()) / f"{automation_id}.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def keep_text(automation_id: str, text: str, directory: Path | None = None) -> None:
    """Write the text (owner-only: it may hold what the automation says of secrets)."""
    if not SAFE_ID.match(automation_id):
        return
    directory = directory or texts_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{automation_id}.yaml"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
