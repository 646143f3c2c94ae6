"""The project file `tocsin.yaml`, shaped like `prefect.yaml`, and the deployment spec the
socket API accepts.

`tocsin deploy` reads the file, resolves entrypoints against the file's directory (checking
the file and function exist, and reading the flow's name from its `@flow` decorator without
running the user's code), and sends one spec per deployment; the daemon validates each spec
again (`check_spec`) so a bad one from any client changes nothing.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from ..errors import InvalidInput
from ..events.model import error_path
from .model import Deployment, Schedule
from .scheduler import check_schedule


class WorkPoolRef(msgspec.Struct, kw_only=True):
    name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = msgspec.field(default_factory=dict)


class DeploymentSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One entry of `deployments:` (prefect.yaml's fields tocsin uses; others are refused
    so a typo is not silently ignored)."""

    name: str
    entrypoint: str | None = None
    command: str | None = None
    flow_name: str | None = None
    path: str | None = None
    python: str | None = None
    description: str = ""
    version: str | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    job_variables: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    work_pool: WorkPoolRef | None = None
    schedules: list[Schedule] = msgspec.field(default_factory=list)
    schedule: Schedule | None = None
    triggers: list[dict[str, Any]] = msgspec.field(default_factory=list)
    concurrency_limit: int | None = None
    paused: bool = False
    served_by: int | None = None


def _convert(data: Any, type_: Any, where: str) -> Any:
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        path, message = error_path(exc)
        raise InvalidInput([(where + path.removeprefix("$"), message)]) from None


#: prefect.yaml deployment fields that say how Prefect builds and ships code; tocsin runs the
#: code where it is, so they are accepted and have no effect here.
PREFECT_ONLY = ("build", "push", "pull", "enforce_parameter_schema")


def without_nulls(data: Any) -> Any:
    """Prefect's reading of a deployment: a null field (and `schedule: {}`, as `prefect init`
    writes it) means "the default", in the deployment and in its work_pool."""
    if not isinstance(data, dict):
        return data
    out = {k: _drop_nulls(v) if k in ("work_pool", "schedule") else v for k, v in data.items()
           if v is not None and k not in PREFECT_ONLY and not (k == "schedule" and v == {})}
    if isinstance(out.get("schedules"), list):
        out["schedules"] = [_drop_nulls(s) for s in out["schedules"]]
    return out


def _drop_nulls(value: Any) -> Any:
    """A mapping (work_pool, a schedule) without its null fields; anything else as it is."""
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


def check_spec(data: Any, where: str = "") -> Deployment:
    """A deployment spec (dict) -> a Deployment, or InvalidInput naming every bad field.
    Text is coerced where Prefect coerces it ("true", "5")."""
    spec: DeploymentSpec = _convert(without_nulls(data), DeploymentSpec, where)
    errors: list[tuple[str, str]] = []
    if not spec.name.strip():
        errors.append((f"{where}.name", "must not be empty"))
    if (spec.entrypoint is None) == (spec.command is None):
        errors.append((where or "$", ("give exactly one of `entrypoint` (path/to/flows.py:function)"
                                     " or `command` (a shell command)")))
    elif spec.entrypoint is not None and ":" not in spec.entrypoint:
        errors.append((f"{where}.entrypoint",
                       f"{spec.entrypoint!r} must look like path/to/flows.py:function"))
    schedules = list(spec.schedules) + ([spec.schedule] if spec.schedule else [])
    for i, s in enumerate(schedules):
        if (problem := check_schedule(s)) is not None:
            errors.append((f"{where}.schedules[{i}]", problem))
    if spec.concurrency_limit is not None and spec.concurrency_limit < 1:
        errors.append((f"{where}.concurrency_limit", "must be at least 1"))
    if errors:
        raise InvalidInput(errors)
    pool = spec.work_pool or WorkPoolRef()
    flow_name = spec.flow_name or (_default_flow_name(spec.entrypoint) if spec.entrypoint
                                   else spec.name)
    return Deployment(
        id="", name=spec.name, flow_id="", flow_name=flow_name, entrypoint=spec.entrypoint,
        command=spec.command, path=spec.path or ".", python=spec.python or sys.executable,
        description=spec.description, parameters=spec.parameters,
        job_variables={**pool.job_variables, **spec.job_variables}, tags=spec.tags,
        work_pool_name=pool.name, work_queue_name=pool.work_queue_name, schedules=schedules,
        triggers=spec.triggers, concurrency_limit=spec.concurrency_limit, paused=spec.paused,
        served_by=spec.served_by)


def _default_flow_name(entrypoint: str) -> str:
    """Prefect's default flow name: the function's name with `_` as `-`."""
    return entrypoint.rpartition(":")[2].replace("_", "-")


def flow_name_in_source(path: Path, function: str) -> str:
    """The `name=` of the function's `@flow(...)` decorator, else Prefect's default; raises
    InvalidInput if the file or function does not exist."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except OSError as exc:
        raise InvalidInput(f"cannot read entrypoint file {path}: {exc.strerror}") from None
    except SyntaxError as exc:
        raise InvalidInput(f"{path}, line {exc.lineno}: {exc.msg}") from None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call):
                    for kw in deco.keywords:
                        if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                            return str(kw.value.value)
            return function.replace("_", "-")
    raise InvalidInput(f"{path} defines no function {function!r} (at module level)")


def load_project(path: Path) -> list[dict[str, Any]]:
    """The deployments of a project file, as specs ready for `POST /deployments`."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read project file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{path}{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        raise InvalidInput(f"{path}: a project file needs a `deployments:` list")
    base = path.resolve().parent
    shared = pull_directory(data.get("pull"), base, f"{path.name}: pull")
    specs = []
    for i, entry in enumerate(data["deployments"]):
        where = f"{path.name}: deployments[{i}]"
        if not isinstance(entry, dict):
            raise InvalidInput([(where, "each deployment must be a mapping")])
        spec = dict(entry)
        own = pull_directory(spec.get("pull"), base, f"{where}.pull")
        if spec.get("path") is None:
            spec["path"] = str(own or shared or base)
        spec["path"] = str((base / spec["path"]).resolve())
        spec.setdefault("python", sys.executable)
        check_spec(spec, where)  # every field error here, before anything is sent
        if spec.get("entrypoint") and not spec.get("flow_name"):
            file_part, _, fn = spec["entrypoint"].rpartition(":")
            spec["flow_name"] = flow_name_in_source(Path(spec["path"]) / file_part, fn)
        specs.append(spec)
    return specs


SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"


def pull_directory(steps: Any, base: Path, where: str) -> Path | None:
    """The directory prefect.yaml's `pull` steps leave a run in: `set_working_directory` is
    honoured when that directory exists here; every other step (git_clone, pip install, ...)
    is reported on stderr and ignored, since tocsin runs the code where it already is."""
    if not steps:
        return None
    if not isinstance(steps, list):
        raise InvalidInput([(where, "must be a list of steps")])
    directory = None
    for step in steps:
        name, args = next(iter(step.items())) if isinstance(step, dict) and step else (step, None)
        wanted = args.get("directory") if isinstance(args, dict) else None
        if name in (SET_WORKING_DIRECTORY, "set_working_directory") and wanted:
            candidate = (base / str(wanted)).resolve()
            if candidate.is_dir():
                directory = candidate
            else:
                print(f"tocsin: {where}: set_working_directory {wanted} does not exist here; "
                      f"runs start in {directory or base}", file=sys.stderr)
        else:
            print(f"tocsin: {where}: pull step {name} ignored (tocsin runs the code where it "
                  "is)", file=sys.stderr)
    return directory


def file_triggers(value: Any) -> list[Any]:
    """The triggers a `--trigger` value holds: a list, an object with a `triggers:` list (the
    shape Prefect reads from a file; it has no `type` of its own), or one trigger."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and set(value) == {"triggers"}:
        return value["triggers"] if isinstance(value["triggers"], list) else [value]
    return [value]


def read_triggers(args: list[str]) -> list[dict[str, Any]]:
    """`--trigger` values: JSON text, or a JSON/YAML file holding one trigger, a list, or
    `triggers:` with a list."""
    triggers: list[dict[str, Any]] = []
    for i, text in enumerate(args):
        where = f"--trigger[{i}]"
        candidate = Path(text)
        if not text.lstrip().startswith(("{", "[")) and candidate.is_file():
            import yaml

            try:
                value = yaml.safe_load(candidate.read_text())
            except yaml.YAMLError as exc:
                raise InvalidInput([(where, f"{text}: not valid YAML/JSON: {exc}")]) from None
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput([(where, f"neither a file nor valid JSON: {exc}")]) from None
        items = file_triggers(value)
        if not all(isinstance(t, dict) for t in items):
            raise InvalidInput([(where, "a trigger must be a JSON object (or a list of them)")])
        triggers.extend(items)
    return triggers
