"""The user's keymap file: rebinds any key by its binding id (Textual's keymap).

`$TOCSIN_KEYMAP`, else `$XDG_CONFIG_HOME/tocsin/keymap.toml` (~/.config/tocsin/keymap.toml):

    [keys]
    "list.down" = "j,down"
    "feed.pause" = "p"

Ids are those the help screen shows. A missing file is no keymap; a broken one, or ids no
binding has, are reported as a warning and the rest applies.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path


def keymap_path() -> Path:
    if explicit := os.environ.get("TOCSIN_KEYMAP"):
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(config) / "tocsin" / "keymap.toml"


def load_keymap(path: Path, known_ids: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """(binding id -> keys, problems to show) from the file at `path`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: {exc} — no key was rebound"]
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        return {}, [f"{path}: [keys] must be a table of \"binding.id\" = \"key,key\""]
    known = set(known_ids)
    keymap: dict[str, str] = {}
    problems = []
    for binding_id, value in keys.items():
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{path}: keys.{binding_id} must be a string such as \"ctrl+x\"")
        elif binding_id not in known:
            problems.append(f"{path}: no binding has the id {binding_id!r} (the help screen, "
                            "?, lists the ids)")
        else:
            keymap[binding_id] = value.replace(" ", "")
    return keymap, problems
