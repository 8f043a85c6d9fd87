"""Summary statistics used by every scenario: median, percentiles, ratios.

Plain functions over lists of floats so that the numbers a record shows can be
recomputed by hand from the samples it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def median(samples: Sequence[float]) -> float:
    """The median; the mean of the two middle samples for an even count.

    Raises ``ValueError`` for no samples.
    """
    if not samples:
        raise ValueError("median of no samples")
    ordered = sorted(samples)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(samples: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least ``percent`` % at or below.

    ``percentile(xs, 100)`` is the maximum; with few samples p99 is the maximum
    too, which is the honest answer. Raises ``ValueError`` for no samples or a
    percent outside (0, 100].
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    ordered = sorted(samples)
    rank = math.ceil(percent / 100 * len(ordered))
    return ordered[rank - 1]


def ratio(measured: float, baseline: float) -> float:
    """``measured / baseline``; raises ``ValueError`` when the baseline is not positive."""
    if baseline <= 0:
        raise ValueError(f"a ratio needs a positive baseline, got {baseline}")
    return measured / baseline


def paired_ratios(measured: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Ratios of runs made back to back (``measured[i]`` against ``baseline[i]``)."""
    if len(measured) != len(baseline):
        raise ValueError(f"{len(measured)} measured runs but {len(baseline)} baseline runs")
    return [ratio(m, b) for m, b in zip(measured, baseline, strict=True)]


def summary(samples: Sequence[float]) -> dict[str, float]:
    """``count``, ``min``, ``p50``, ``p99``, ``max`` of the samples (rounded to ms)."""
    return {
        "count": len(samples),
        "min": round(min(samples), 3),
        "p50": round(percentile(samples, 50), 3),
        "p99": round(percentile(samples, 99), 3),
        "max": round(max(samples), 3),
    }
