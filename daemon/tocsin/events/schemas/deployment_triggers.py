"""`from tocsin.events.schemas.deployment_triggers import DeploymentEventTrigger`, as in
Prefect: triggers with a deployment's fields (parameters, schedule_after, ...)."""

from ...events_api import (
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
    DeploymentMetricTrigger,
    DeploymentSequenceTrigger,
)

__all__ = ["DeploymentCompoundTrigger", "DeploymentEventTrigger", "DeploymentMetricTrigger",
           "DeploymentSequenceTrigger"]
