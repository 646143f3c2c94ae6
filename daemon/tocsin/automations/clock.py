"""Engine time: float seconds since the epoch, as firings stamp it.

Its own module because the engine and the metric triggers both stamp firings with it, and
neither should import the other for that.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_datetime(t: float) -> datetime:
    """An engine time (seconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(t, UTC)
