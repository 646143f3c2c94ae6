"""The process of one flow run: import the entrypoint, call it with the parameters, and write
the outcome (return value or exception) to the result file for the daemon to record.

Run as `python -m tocsin.jobs.runner SPEC.json`. Keeps to the standard library plus the light
`tocsin.flows`, so a run starts fast.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any


def load_entrypoint(entrypoint: str, cwd: str) -> Any:
    """`path/to/flows.py:function` (relative to cwd) -> the object it names."""
    path_text, sep, attr = entrypoint.rpartition(":")
    if not sep or not attr:
        raise ValueError(f"entrypoint {entrypoint!r} must be `path/to/file.py:function`")
    path = (Path(cwd) / path_text).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"entrypoint file {path} does not exist")
    for p in (str(path.parent), cwd):
        if p not in sys.path:
            sys.path.insert(0, p)
    name = f"__tocsin_flow__{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"{path} has no function {attr!r}") from None


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def run_flow(spec: dict[str, Any]) -> dict[str, Any]:
    target = load_entrypoint(spec["entrypoint"], spec["cwd"])
    fn = getattr(target, "fn", target)
    params = spec.get("parameters") or {}
    try:
        inspect.signature(fn).bind(**params)
    except TypeError as exc:
        return {"state": "Failed",
                "message": f"Validation of flow parameters failed with error: {exc}"}
    try:
        value = target(**params)
        if inspect.isawaitable(value):
            import asyncio  # only async flows pay for it

            value = asyncio.run(value)
    except Exception as exc:  # noqa: BLE001 (any exception of the flow is its failure)
        traceback.print_exc()
        return {"state": "Failed",
                "message": f"Flow run encountered an exception: {type(exc).__name__}: {exc}"}
    return {"state": "Completed", "message": "", "result": jsonable(value)}


def run_command(spec: dict[str, Any]) -> dict[str, Any]:
    """A shell command; parameters arrive as TOCSIN_PARAM_<NAME> and TOCSIN_PARAMETERS."""
    params = spec.get("parameters") or {}
    env = dict(os.environ, TOCSIN_PARAMETERS=json.dumps(params))
    for key, value in params.items():
        env[f"TOCSIN_PARAM_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    code = subprocess.call(spec["command"], shell=True, cwd=spec["cwd"], env=env)
    if code == 0:
        return {"state": "Completed", "message": "", "result": {"exit_code": 0}}
    return {"state": "Failed", "message": f"Command exited with code {code}",
            "result": {"exit_code": code}}


def write_result(path: str, result: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    Path(tmp).write_text(json.dumps(result))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    try:
        result = run_command(spec) if spec.get("command") else run_flow(spec)
    except Exception as exc:  # noqa: BLE001 (could not even load the flow: the run fails with why)
        traceback.print_exc()
        result = {"state": "Failed", "message": f"Flow could not be loaded: {type(exc).__name__}: {exc}"}
    sys.stdout.flush()
    sys.stderr.flush()
    write_result(spec["result_path"], result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
