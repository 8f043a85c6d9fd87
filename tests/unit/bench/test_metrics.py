"""Reading the operator's Prometheus metrics, as scraped from a restarted benchmark operator."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import metrics
from benchmarks.scenarios.scale import metrics_idle_since

SCRAPE = Path(__file__).parent / "data" / "operator-metrics.txt"


def test_samples_are_summed_by_metric_name() -> None:
    parsed = metrics.parse(SCRAPE.read_text())
    assert parsed["controller_runtime_reconcile_total"] == 251  # success + error + requeue
    assert parsed["kubedirector_clusters"] == 40
    assert parsed["kubedirector_members"] == 120
    assert parsed[metrics.QUEUE_DEPTH] == 0
    assert metrics.ACTIONS not in parsed  # no in-container action ran in this process


def test_an_empty_queue_and_no_busy_worker_is_idle() -> None:
    parsed = metrics.parse(SCRAPE.read_text())
    assert metrics.idle(parsed)
    assert not metrics.idle({**parsed, metrics.QUEUE_DEPTH: 3.0})
    assert not metrics.idle({**parsed, metrics.ACTIVE_WORKERS: 1.0})


def test_a_line_without_a_number_is_named() -> None:
    with pytest.raises(ValueError, match="without a number"):
        metrics.parse('workqueue_depth{name="x"} many\n')


def test_idle_since_the_last_busy_sample() -> None:
    samples = [(1.0, True), (2.0, False), (3.0, True), (4.0, True), (5.0, False), (6.0, True)]
    assert metrics_idle_since(samples, after=0.0) == 6.0
    assert metrics_idle_since(samples[:4], after=0.0) == 3.0
    # Samples before the operator's first request (before it primed) do not count.
    assert metrics_idle_since(samples[:2], after=1.5) is None
    assert metrics_idle_since([(1.0, True), (2.0, True)], after=0.5) == 1.0
