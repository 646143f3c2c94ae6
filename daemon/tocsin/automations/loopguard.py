"""The loop guard (decision 11): pause an automation triggered through its own consequences.

By causality, not by rate (see lineage.py): a root firing whose triggering event already
passed through its automation `depth` times would close a loop once more, so the automation
is paused instead, and the pause is reported to the host with the chain that led there.
"""

from __future__ import annotations

from typing import NamedTuple

from ..events import lineage
from ..firing import Firing


class LoopPause(NamedTuple):
    """An automation the loop guard paused, why, and the causal chain (it last)."""

    automation_id: str
    reason: str
    chain: lineage.Chain


class LoopGuard:
    def __init__(self, depth: int | None = lineage.DEFAULT_LOOP_DEPTH) -> None:
        #: None: the guard is off
        self.depth = depth

    def check(self, firing: Firing) -> LoopPause | None:
        """The pause this root firing calls for instead of being handed out, if any."""
        if self.depth is None:
            return None
        aid = firing.automation_id
        chain = lineage.chain_of(firing.triggering_event)
        times = chain.count(aid)
        if times < self.depth:
            return None
        reason = (f"triggered through its own actions' events {times} times in a row; paused "
                  "by the loop guard (see the chain; raise [engine] loop_depth if this is "
                  "intended)")
        return LoopPause(aid, reason, (*chain, aid))
