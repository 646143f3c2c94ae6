"""A real tocsin daemon in a subprocess, on a temp socket and SQLite file, for tests and benches."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tocsin.client.sync import SyncClient
from tocsin.errors import DaemonNotRunning


class DaemonProcess:
    def __init__(self, home: Path | None = None, config: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        # Linux caps Unix socket paths at 108 bytes: keep the directory short.
        self.dir = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp"))
        self.home = home or self.dir / "home"
        self.socket = self.dir / "s.sock"
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "daemon.log"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "tocsin.cli.main", "daemon", "--home", str(self.home),
               "--socket", str(self.socket), "--log-level", "INFO"]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        return cmd

    def start(self, timeout: float = 15.0) -> DaemonProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=self.env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with SyncClient(self.socket, timeout=2) as c:
                    c.health()
                return self
            except (DaemonNotRunning, OSError):
                time.sleep(0.02)
        raise RuntimeError(f"daemon did not answer within {timeout}s:\n{self.log()}")

    def client(self) -> SyncClient:
        return SyncClient(self.socket)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: a clean shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # the daemon writes its threads' stacks
            time.sleep(0.5)
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"daemon did not stop within {timeout}s of SIGTERM:\n"
                                 f"{self.log()[-4000:]}") from None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> DaemonProcess:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)


def health_within(sock: Path, timeout: float = 20.0, poll: float = 0.02) -> dict:
    """The first health answer from the daemon at `sock` within `timeout` (a bounded poll):
    for tests and benches where another process, not this one, starts the daemon."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with SyncClient(sock, timeout=2) as c:
                return c.health()
        except (DaemonNotRunning, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(poll)
