"""The operator's Prometheus metrics (``kubedirector run --metrics-bind-address``), read plainly.

Only what the restart scenario needs: whether the work queue is empty and no
worker is busy, and how many in-container actions ran. Older operators without
the flag are detected (:func:`supported`) and the scenario falls back to the
operator's log.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections import defaultdict

#: Series summed over their labels to tell that the operator is idle.
QUEUE_DEPTH = "workqueue_depth"
ACTIVE_WORKERS = "controller_runtime_active_workers"
ACTIONS = "kubedirector_actions_total"


def parse(text: str) -> dict[str, float]:
    """Every sample of the exposition ``text`` summed by metric name (labels dropped).

    Comment lines are skipped; raises ``ValueError`` naming a line whose value
    is not a number.
    """
    totals: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        try:
            totals[name] += float(value)
        except ValueError as error:
            raise ValueError(f"metrics line without a number: {line[:120]!r}") from error
    return dict(totals)


def scrape(address: str, timeout: float = 2.0) -> dict[str, float]:
    """The operator's metrics at ``host:port`` (``/metrics``), parsed."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as response:
        return parse(response.read().decode())


def idle(sample: dict[str, float]) -> bool:
    """No cluster waits in the queue and no worker is busy."""
    return sample.get(QUEUE_DEPTH, 0.0) == 0 and sample.get(ACTIVE_WORKERS, 0.0) == 0


def supported() -> bool:
    """True when this checkout's ``kubedirector run`` serves metrics."""
    result = subprocess.run(
        [sys.executable, "-m", "kubedirector_core", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "--metrics-bind-address" in result.stdout
