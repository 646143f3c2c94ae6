"""Every action type Prefect names, with Prefect's fields and defaults, and their validation.

Decoding is msgspec (into the class `type` names); the rules a type cannot say — `source`
against `<kind>_id`, templates that must parse, one target for a webhook — are checked after,
so `parse_actions` reports every problem of every action at once, each with its path.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar, Literal

import msgspec

from ..durations import parse_duration, parse_within
from ..errors import InvalidInput
from ..events.model import error_path
from ..templates import TemplateError, is_template, validate_template

Source = Literal["selected", "inferred"]
StateType = Literal["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED",
                    "CRASHED", "PAUSED", "CANCELLING"]

Problems = list[tuple[str, str]]


class Action(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    """Base of every action. `template_fields` are rendered with the template context."""

    template_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def type(self) -> str:
        return self.__struct_config__.tag  # type: ignore[return-value]

    def problems(self) -> Problems:
        """(field, message) for each rule this action breaks; empty when valid."""
        out: Problems = []
        for name in self.template_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                out.extend(_template_problems(name, value))
        return out

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


class DoNothing(Action, tag="do-nothing"):
    pass


# -- actions on an object chosen by id or inferred from the event (§8.2) --------------------

class TargetedAction(Action):
    """`source: selected` needs `<kind>_id`; `source: inferred` forbids it."""

    kind: ClassVar[str] = ""
    source: Source = "selected"

    @property
    def id_field(self) -> str:
        return f"{self.kind.replace('-', '_')}_id"

    @property
    def target_id(self) -> str | None:
        return getattr(self, self.id_field)

    def problems(self) -> Problems:
        out = super().problems()
        field, value = self.id_field, self.target_id
        if self.source == "selected" and not value:
            out.append((field, f"{field} is required"))
        elif self.source == "inferred" and value:
            out.append((field, f"{field} is not allowed"))
        elif value and not _is_uuid(value):
            out.append((field, f"{field} must be a UUID, not {value!r}"))
        return out


class DeploymentAction(TargetedAction):
    kind: ClassVar[str] = "deployment"
    deployment_id: str | None = None


class WorkPoolAction(TargetedAction):
    kind: ClassVar[str] = "work-pool"
    work_pool_id: str | None = None


class WorkQueueAction(TargetedAction):
    kind: ClassVar[str] = "work-queue"
    work_queue_id: str | None = None


class AutomationAction(TargetedAction):
    kind: ClassVar[str] = "automation"
    automation_id: str | None = None


class RunDeployment(DeploymentAction, tag="run-deployment"):
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    #: seconds, or a duration such as "90s", "5m" or "PT2H"
    schedule_after: float | str = 0

    def problems(self) -> Problems:
        out = super().problems()
        try:
            if self.schedule_after_seconds < 0:
                out.append(("schedule_after", "schedule_after must be non-negative"))
        except ValueError as exc:
            out.append(("schedule_after", str(exc)))
        out.extend(_parameter_problems(self.parameters or {}, "parameters"))
        out.extend(_parameter_problems(self.job_variables or {}, "job_variables"))
        return out

    @property
    def schedule_after_seconds(self) -> float:
        """Seconds, "90s"/"5m", or ISO-8601 ("PT2H") as Prefect's docs write it."""
        value = self.schedule_after
        if isinstance(value, str) and value.strip().upper().startswith("P"):
            return parse_within(value)
        return parse_duration(value).total_seconds()


class PauseDeployment(DeploymentAction, tag="pause-deployment"):
    pass


class ResumeDeployment(DeploymentAction, tag="resume-deployment"):
    pass


class PauseWorkPool(WorkPoolAction, tag="pause-work-pool"):
    pass


class ResumeWorkPool(WorkPoolAction, tag="resume-work-pool"):
    pass


class PauseWorkQueue(WorkQueueAction, tag="pause-work-queue"):
    pass


class ResumeWorkQueue(WorkQueueAction, tag="resume-work-queue"):
    pass


class PauseAutomation(AutomationAction, tag="pause-automation"):
    pass


class ResumeAutomation(AutomationAction, tag="resume-automation"):
    pass


# -- flow-run actions: the target is always inferred (§8.2) ----------------------------------

class FlowRunAction(Action):
    kind: ClassVar[str] = "flow-run"


class CancelFlowRun(FlowRunAction, tag="cancel-flow-run"):
    pass


class SuspendFlowRun(FlowRunAction, tag="suspend-flow-run"):
    pass


class ResumeFlowRun(FlowRunAction, tag="resume-flow-run"):
    pass


class DeleteFlowRun(FlowRunAction, tag="delete-flow-run"):
    pass


class ChangeFlowRunState(FlowRunAction, tag="change-flow-run-state", kw_only=True):
    state: StateType
    name: str | None = None
    message: str | None = None
    force: bool = False


# -- notifications and webhooks ----------------------------------------------------------

class BlockAction(Action):
    """Names its block by `block_document_id` (Prefect) or `block` (its name)."""

    block_document_id: str | None = None
    block: str | None = None

    def target_problems(self, allow_inline: bool = False) -> Problems:
        given = [f for f in ("block_document_id", "block") if getattr(self, f)]
        if allow_inline and getattr(self, "url", None):
            given.append("url")
        if len(given) > 1:
            return [(given[1], f"give only one of {', '.join(given)}")]
        if not given:
            choices = "block_document_id or block" + (" or url" if allow_inline else "")
            return [("block_document_id", f"a block is required: give {choices}")]
        if self.block_document_id and not _is_uuid(self.block_document_id):
            return [("block_document_id", "block_document_id must be a UUID")]
        return []


class SendNotification(BlockAction, tag="send-notification", kw_only=True):
    template_fields: ClassVar[tuple[str, ...]] = ("subject", "body")
    body: str
    subject: str = "Prefect automated notification"

    def problems(self) -> Problems:
        return super().problems() + self.target_problems()


class CallWebhook(BlockAction, tag="call-webhook"):
    """`payload` is a text template; a JSON object or list is turned into indented JSON text
    (as Prefect does). `url`, `method` and `headers` give the target inline, without a block."""

    template_fields: ClassVar[tuple[str, ...]] = ("payload",)
    payload: str | dict[str, Any] | list[Any] = ""
    url: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.payload, str):
            self.payload = json.dumps(self.payload, indent=2)

    def problems(self) -> Problems:
        out = super().problems() + self.target_problems(allow_inline=True)
        if self.url and not self.url.startswith(("http://", "https://")):
            out.append(("url", "url must start with http:// or https://"))
        if not self.url and (self.method or self.headers):
            out.append(("method" if self.method else "headers",
                        "method and headers go with an inline url (a block has its own)"))
        return out


ACTION_TYPES: tuple[type[Action], ...] = (
    DoNothing, RunDeployment, PauseDeployment, ResumeDeployment, CancelFlowRun,
    SuspendFlowRun, ResumeFlowRun, DeleteFlowRun, ChangeFlowRunState, PauseWorkPool,
    ResumeWorkPool, PauseWorkQueue, ResumeWorkQueue, PauseAutomation, ResumeAutomation,
    SendNotification, CallWebhook,
)
TYPE_NAMES = {t.__struct_config__.tag: t for t in ACTION_TYPES}


# -- parsing -----------------------------------------------------------------------------

def parse_actions(data: Any, path: str = "actions") -> list[Action]:
    """Validate a list of actions; raises InvalidInput with every (path, message) found."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidInput([(path, "must be a list of actions")])
    actions: list[Action] = []
    errors: Problems = []
    for i, item in enumerate(data):
        try:
            actions.append(parse_action(item, f"{path}[{i}]"))
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return actions


def parse_action(item: Any, where: str = "action") -> Action:
    """Validate one action; raises InvalidInput with every problem found."""
    if not isinstance(item, dict):
        raise InvalidInput([(where, "an action must be an object with a `type`")])
    kind = item.get("type")
    if kind not in TYPE_NAMES:
        known = ", ".join(sorted(TYPE_NAMES))
        what = "is missing" if kind is None else f"{kind!r} is not an action type"
        raise InvalidInput([(f"{where}.type", f"`type` {what}; use one of: {known}")])
    try:
        action = msgspec.convert(item, TYPE_NAMES[kind], strict=False)  # lax, as Prefect
    except msgspec.ValidationError as exc:
        at, message = error_path(exc)
        raise InvalidInput([(where + at.removeprefix("$"), message)]) from None
    problems = action.problems()
    if problems:
        raise InvalidInput([(f"{where}.{field}", msg) for field, msg in problems])
    return action


# -- checks shared by the types ----------------------------------------------------------

def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _template_problems(field: str, source: str, label: str | None = None) -> Problems:
    try:
        validate_template(source)
    except TemplateError as exc:
        return [(field, f"'{label or field}' is not a valid template: {exc}")]
    return []


def _parameter_problems(value: Any, path: str) -> Problems:
    """Every Jinja string inside run-deployment parameters must be a valid template, and a
    literal JSON string of a `json` kind must parse (Prefect hydrates without rendering at
    save time, §10)."""
    out: Problems = []
    if isinstance(value, dict) and value.get("__prefect_kind") == "json" \
            and isinstance(value.get("value"), str):
        try:
            json.loads(value["value"])
        except json.JSONDecodeError as exc:
            out.append((path, f"Invalid JSON: {exc}"))
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "template" and value.get("__prefect_kind") == "jinja":
                out.extend(_template_problems(path, str(inner), path.rsplit(".", 1)[-1]))
            else:
                out.extend(_parameter_problems(inner, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out.extend(_parameter_problems(inner, f"{path}[{i}]"))
    elif isinstance(value, str) and is_template(value):
        out.extend(_template_problems(path, value, path.rsplit(".", 1)[-1]))
    return out
