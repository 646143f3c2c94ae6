"""`from tocsin.events.schemas.events import Event, ResourceSpecification`, as in Prefect."""

from ..model import Event
from .automations import ResourceSpecification

__all__ = ["Event", "ResourceSpecification"]
