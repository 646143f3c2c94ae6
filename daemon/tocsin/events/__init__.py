"""Events: the model, resource matching and (in `store`) the SQLite event store."""

from .matching import ResourceMatcher, compile_spec, matches
from .model import Event, decode_event, decode_events, event_from_dict, uuid7

__all__ = [
    "Event",
    "ResourceMatcher",
    "compile_spec",
    "decode_event",
    "decode_events",
    "event_from_dict",
    "matches",
    "uuid7",
]
