"""Shared fixtures: a real daemon subprocess on a temp socket (see daemon_proc.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemon_proc import DaemonProcess
from prefect_env import PrefectServer, prefect_python


@pytest.fixture
def daemon() -> Iterator[DaemonProcess]:
    """A running daemon: `.socket`, `.home`, `.proc`, `.client()`, `.restart()`, `.kill9()`."""
    d = DaemonProcess().start()
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def make_daemon() -> Iterator:
    """Factory for daemons with a config file or env of their own (started by the caller)."""
    made: list[DaemonProcess] = []

    def make(**kwargs) -> DaemonProcess:
        d = DaemonProcess(**kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.cleanup()


@pytest.fixture(scope="session")
def prefect_py() -> Path:
    """The interpreter of a real Prefect installation (built once per machine, see
    prefect_env.py); fails, never skips, when it cannot be installed."""
    return prefect_python()


@pytest.fixture(scope="session")
def prefect_server(prefect_py: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One real Prefect server (SQLite, loopback) shared by the session."""
    server = PrefectServer(prefect_py, tmp_path_factory.mktemp("prefect-server")).start()
    try:
        yield server
    finally:
        server.stop()
