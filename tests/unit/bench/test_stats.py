"""The summary numbers every record shows."""

from __future__ import annotations

import pytest

from benchmarks.stats import median, paired_ratios, percentile, ratio, summary


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError, match="no samples"):
        median([])


def test_nearest_rank_percentiles() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    # With ten samples the 99th percentile is the slowest one.
    assert percentile([float(i) for i in range(10)], 99) == 9.0
    with pytest.raises(ValueError, match="percent"):
        percentile(samples, 0)


def test_ratios_against_the_baseline() -> None:
    assert ratio(10.5, 10.0) == pytest.approx(1.05)
    assert paired_ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="positive baseline"):
        ratio(1.0, 0.0)
    with pytest.raises(ValueError, match="2 measured runs but 1 baseline"):
        paired_ratios([1.0, 2.0], [1.0])


def test_summary_rounds_to_milliseconds() -> None:
    assert summary([0.1234, 2.0, 1.0]) == {
        "count": 3,
        "min": 0.123,
        "p50": 1.0,
        "p99": 2.0,
        "max": 2.0,
    }
