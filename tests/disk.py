"""A small, really full disk for store-fault tests and the attack bench (needs root)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def small_tmpfs(size: str) -> Iterator[Path | None]:
    """A tmpfs of `size` (e.g. "4m") mounted on a new folder under /tmp, or None when this
    process may not mount one (not root, or no mount in this container)."""
    where = Path(tempfile.mkdtemp(prefix="tcsdisk", dir="/tmp"))
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]).returncode == 0
    try:
        yield where if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)])
        where.rmdir()


def fill(folder: Path) -> Path:
    """Write zeros into `folder` until its disk is full; returns the file (unlink it to free
    the space)."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler
