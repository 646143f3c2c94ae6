"""Starting a flow run's process and reading what it left behind.

Standard library only: both the daemon's worker and a `serve` process (in the user's program)
start runs the same way. A run is `python -m tocsin.jobs.runner SPEC`, in its own session (so
cancelling kills its whole process group, and a daemon restart does not kill it), with stdout
and stderr going to the run's log file; it writes its outcome to a result file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# So any interpreter the project uses can import tocsin (and `from tocsin import flow`).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def run_dir(home: str | Path) -> Path:
    return Path(home) / "runs"


def run_paths(home: str | Path, run_id: str) -> dict[str, str]:
    d = run_dir(home)
    return {"spec_path": str(d / f"{run_id}.spec.json"),
            "result_path": str(d / f"{run_id}.result.json"),
            "log_path": str(d / f"{run_id}.log")}


def spawn(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Write the spec file and start the runner; raises OSError if it cannot start."""
    spec_path = Path(spec["spec_path"])
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(spec, default=str))
    os.replace(tmp, spec_path)
    env = {**os.environ, **{k: str(v) for k, v in (spec.get("env") or {}).items()}}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env["TOCSIN_FLOW_RUN_ID"] = spec["run_id"]
    env["TOCSIN_FLOW_RUN_NAME"] = spec.get("run_name", "")
    env["PYTHONUNBUFFERED"] = "1"
    python = spec.get("python") or sys.executable
    with open(spec["log_path"], "ab") as log:
        return subprocess.Popen(
            [python, "-m", "tocsin.jobs.runner", str(spec_path)],
            cwd=spec.get("cwd") or None, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=env, start_new_session=True, close_fds=True)


def read_result(path: str | Path) -> dict[str, Any] | None:
    """The outcome a runner wrote, or None if it wrote none (it crashed or was killed)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """True if `pid` is a live process (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0] if ")" in stat else "?"
    return state not in ("Z", "X")


def is_run_process(pid: int, run_id: str) -> bool:
    """True if `pid` is alive (not a zombie) and is this run's runner (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return (b"tocsin.jobs.runner" in cmdline and run_id.encode() in cmdline
            and pid_alive(pid))


def find_run_process(run_id: str) -> int | None:
    """The pid of this run's runner, found by its command line (for a run whose pid was never
    recorded: the daemon died between starting it and committing Running)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_run_process(int(entry.name), run_id):
            return int(entry.name)
    return None
