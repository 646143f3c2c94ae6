"""A real Prefect for the tests: a pinned release in its own virtualenv, and servers on loopback.

The virtualenv lives outside the clone (`~/.cache/tocsin-tests/prefect-<version>`, or under
`$TOCSIN_TEST_CACHE`) so that it is built once per machine, not per run; a file lock keeps
parallel runs from building it twice, and it is built under a temporary name and renamed into
place only when complete. If it cannot be installed the tests FAIL (never skip): the proof
that tocsin speaks Prefect's wire is these tests.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PREFECT_VERSION = "3.9.1"
CACHE = Path(os.environ.get("TOCSIN_TEST_CACHE") or Path.home() / ".cache" / "tocsin-tests")
INSTALL_TIMEOUT = 1200
#: pytest-timeout's limit for tests using a real Prefect: the first such test also pays for
#: the one-time install (fixture setup counts), and a 10,000-event transfer through Prefect
#: takes minutes on a loaded machine. Every wait inside them is bounded on its own.
PREFECT_TEST_TIMEOUT = INSTALL_TIMEOUT + 600


def prefect_python() -> Path:
    """The interpreter of the Prefect virtualenv, installing it first if needed."""
    venv = CACHE / f"prefect-{PREFECT_VERSION}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"prefect-{PREFECT_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").exists():  # another run built it while we waited
            return python
        building = venv.with_name(venv.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(venv, ignore_errors=True)
        steps = [[sys.executable, "-m", "venv", str(building)],
                 [str(building / "bin" / "python"), "-m", "pip", "install", "-q",
                  "--disable-pip-version-check", f"prefect=={PREFECT_VERSION}"]]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True,
                                      stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"installing Prefect {PREFECT_VERSION} took over "
                            f"{INSTALL_TIMEOUT}s: {' '.join(step)}", pytrace=False)
            if done.returncode != 0:
                pytest.fail(f"cannot install Prefect {PREFECT_VERSION} for the tests "
                            f"({' '.join(step)} exited {done.returncode}):\n"
                            f"{done.stderr[-3000:]}", pytrace=False)
        (building / ".complete").write_text(PREFECT_VERSION)
        # Scripts in bin/ keep the old path in their #! line: always run `python -m prefect`.
        building.rename(venv)
    return python


def migrated_database(python: Path) -> Path:
    """An empty Prefect database with every migration applied, built once per machine beside
    the virtualenv: each new server's home starts from a copy, which saves the ~15 s its first
    start would spend migrating."""
    template = CACHE / f"prefect-{PREFECT_VERSION}-db" / "prefect.db"
    if template.exists():
        return template
    with open(CACHE / f"prefect-{PREFECT_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if template.exists():
            return template
        building = template.parent.with_name(template.parent.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        done = subprocess.run([str(python), "-m", "prefect", "server", "database", "upgrade",
                               "-y"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              env=prefect_env(building), timeout=600)
        if done.returncode != 0:
            pytest.fail(f"cannot migrate a Prefect database for the tests:\n"
                        f"{done.stderr[-3000:]}", pytrace=False)
        building.rename(template.parent)
    return template


def wait_for(check, timeout: float, what: str):
    """Poll `check` until it returns something true (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_env(home: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a Prefect process with its own home, talking to `api_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING", **extra})
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


class PrefectServer:
    """`prefect server start` on a loopback port with its own home (SQLite); `stop()` and
    `start()` again keep the port and the database. With `auth_string` the server is secured
    by PREFECT_SERVER_API_AUTH_STRING (and `request` sends it, as Prefect's client does)."""

    def __init__(self, python: Path, home: Path, auth_string: str | None = None) -> None:
        self.python = python
        self.home = home
        self.auth_string = auth_string
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout: float = 120.0) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.home / "prefect.db").exists():
            shutil.copyfile(migrated_database(self.python), self.home / "prefect.db")
        secured = {"PREFECT_SERVER_API_AUTH_STRING": self.auth_string} if self.auth_string else {}
        env = prefect_env(self.home, **secured,
                          PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL="0.5",
                          PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE="500",
                          PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE="100",
                          PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED="false",
                          PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED="false",
                          PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED="false",
                          PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED="false",
                          PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED="false",
                          PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
                          PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="false",
                          PREFECT_SERVER_SERVICES_FOREMAN_ENABLED="false")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.python), "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=self.home,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Prefect server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.get("/health") is True:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Prefect server did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    # -- a tiny client for assertions --------------------------------------------------------
    def request(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.auth_string:
            basic = base64.b64encode(self.auth_string.encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        req = urllib.request.Request(self.api_url + path, data=data, method=method,
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def get(self, path: str) -> object:
        return self.request("GET", path)

    def count_events(self, names: list[str] | None = None, prefix: str | None = None) -> int:
        """How many events Prefect has stored (its `total`), any time in the last year."""
        event: dict[str, object] = {}
        if names:
            event["name"] = names
        if prefix:
            event["prefix"] = [prefix]
        page = self.request("POST", "/events/filter", {"filter": {
            "occurred": {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
            "event": event or None}, "limit": 1})
        assert isinstance(page, dict)
        return int(page["total"])


def run_prefect(python: Path, home: Path, api_url: str, *args: str, script: str | None = None,
                timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """The Prefect CLI (`args`) or a Python script using the SDK, against `api_url`."""
    cmd = [str(python), "-c", script] if script is not None else [str(python), "-m", "prefect",
                                                                   *args]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=prefect_env(home, api_url, **env), cwd=home, timeout=timeout)
