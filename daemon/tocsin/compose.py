"""The composition root: builds every part of the daemon and links each to the parts it
uses, once, by typed reference (what a part needs of another is a small Protocol beside
the part that needs it). No part looks another up; `server` runs what is built here.
"""

from __future__ import annotations

from .actions.component import ActionsComponent
from .automations import actions as automation_actions
from .automations.component import EngineComponent
from .jobs import actions as job_actions
from .jobs.component import JobsComponent
from .prefect.api import PrefectApiComponent
from .prefect.forward import ForwardComponent
from .prefect.subscribe import SubscribeComponent
from .server.component import Component
from .sources.watch import WatchComponent
from .sources.webhooks import WebhookComponent


def build_components() -> list[Component]:
    """Every part of the daemon beyond the event store, linked, in start order."""
    actions = ActionsComponent()
    engine = EngineComponent(actions=actions)
    jobs = JobsComponent(automations=engine)
    actions.add_executors(automation_actions.executors(engine))
    actions.add_executors(job_actions.executors(jobs))
    actions.add_objects(job_actions.objects(jobs))
    return [actions, engine, WatchComponent(), WebhookComponent(), jobs,
            PrefectApiComponent(engine), ForwardComponent(), SubscribeComponent()]
