"""Start a daemon in the background when none answers, the way tmux starts its server.

The daemon runs detached (its own session, no terminal), on the socket the dashboard was
asked to use and on the default home, and logs to `daemon.log` in that home, so it outlives
the dashboard and can be stopped like any other (`systemctl`, `kill`).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from tocsin.client.aio import AsyncClient
from tocsin.paths import default_home
from tocsin.errors import DaemonNotRunning, HomeInUse, TocsinError

START_TIMEOUT = 15.0


class DaemonStartFailed(TocsinError):
    """The daemon we started exited or never answered."""


def daemon_command(socket_path: str) -> list[str]:
    return [sys.executable, "-m", "tocsin.cli.main", "daemon", "--socket", socket_path]


def spawn_daemon(socket_path: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `tocsin daemon` detached; returns the process and its log file."""
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "daemon.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            daemon_command(socket_path), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
    return proc, log_path


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def start_daemon(client: AsyncClient) -> tuple[subprocess.Popen[bytes], Path]:
    """Spawn a daemon on the client's socket and wait until it answers /health."""
    proc, log_path = spawn_daemon(client.socket_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        # Exit code 4 (HomeInUse): another daemon owns the home — one started at the same
        # moment by another client, or a restart: wait for that one to answer instead.
        if proc.poll() is not None and proc.returncode != HomeInUse.exit_code:
            raise DaemonStartFailed(
                f"the daemon started on {client.socket_path} exited with code "
                f"{proc.returncode}; its log ({log_path}) ends with:\n{_log_tail(log_path)}")
        try:
            await client.health()
            return proc, log_path
        except DaemonNotRunning:
            await asyncio.sleep(0.05)
    raise DaemonStartFailed(
        f"the daemon started on {client.socket_path} did not answer within "
        f"{START_TIMEOUT:.0f}s; see {log_path}")
