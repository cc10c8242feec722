"""Small statistics helpers for the bench (nearest-rank percentiles, rounding)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank `pct` percentile, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds, one decimal."""
    return None if seconds is None else round(seconds * 1000, 1)


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """baseline / ours (above 1: ours is better for a lower-is-better quantity)."""
    if not ours or baseline is None:
        return None
    return round(baseline / ours, 2)
