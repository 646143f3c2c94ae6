"""Files named on the command line, `-` meaning standard input."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InvalidInput


def read_arg(path: str, option: str) -> str:
    """The text of `path` (stdin for `-`); an unreadable file is bad input for `option`."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InvalidInput([(option, f"cannot read {path}: {exc.strerror}")]) from None
