"""`from tocsin.events.actions import CancelFlowRun, RunDeployment, ...`, as in Prefect: one
class per action type. They are the very structs the daemon validates actions into, so an
action object and its dict form (`{"type": "cancel-flow-run"}`) send the same JSON.
"""

from ..actions.model import (
    Action,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    DeleteFlowRun,
    DoNothing,
    PauseAutomation,
    PauseDeployment,
    PauseWorkPool,
    PauseWorkQueue,
    ResumeAutomation,
    ResumeDeployment,
    ResumeFlowRun,
    ResumeWorkPool,
    ResumeWorkQueue,
    RunDeployment,
    SendNotification,
    SuspendFlowRun,
)

__all__ = ["Action", "CallWebhook", "CancelFlowRun", "ChangeFlowRunState", "DeleteFlowRun",
           "DoNothing", "PauseAutomation", "PauseDeployment", "PauseWorkPool", "PauseWorkQueue",
           "ResumeAutomation", "ResumeDeployment", "ResumeFlowRun", "ResumeWorkPool",
           "ResumeWorkQueue", "RunDeployment", "SendNotification", "SuspendFlowRun"]
