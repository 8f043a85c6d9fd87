"""Prometheus metrics of the operator, named as dashboards for Go operators expect.

controller-runtime's and client-go's series, labelled
``controller="kubedirectorcluster"`` (the work queue: ``name=...``):

=============================================  ==========================================
``controller_runtime_reconcile_total``         reconciles by ``result``: success, error,
                                               requeue (success that asked to come back)
``controller_runtime_reconcile_errors_total``  reconciles that failed
``controller_runtime_reconcile_time_seconds``  histogram of one reconcile's duration
``controller_runtime_active_workers``          reconciles running now
``workqueue_depth``                            clusters waiting for a worker
``workqueue_adds_total``                       clusters marked that were not already waiting
``workqueue_queue_duration_seconds``           histogram: marked until taken by a worker
``workqueue_work_duration_seconds``            histogram: taken until done
``leader_election_master_status``              1 while this replica leads, else 0
=============================================  ==========================================

and the operator's own:

===========================================  ============================================
``kubedirector_clusters{state}``             clusters by ``status.state`` (``unknown``:
                                             not reconciled yet), from the caches
``kubedirector_members{state}``              members by their ``state``, from the caches
``kubedirector_hook_call_duration_seconds``  histogram by ``plugin`` and ``hook``
``kubedirector_hook_errors_total``           hook calls that raised, returned nonsense or
                                             timed out, by ``plugin`` and ``hook``
``kubedirector_actions_total``               in-container actions by ``kind`` and
                                             ``result`` (succeeded, failed, timed_out,
                                             not_run)
===========================================  ============================================

No label names a cluster, a member or a namespace, so the number of series
does not grow with the number of clusters. Every series lives in the
:class:`Telemetry`'s own registry (none in prometheus_client's global one), so
several operators in one process (tests) do not collide.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from kubedirector_core.plan.model import ActionOutcome
from kubedirector_core.plugins import HookCall

#: The ``controller`` label of controller-runtime's series.
CONTROLLER = "kubedirectorcluster"
#: The ``name`` label of the work queue's series.
QUEUE = "kubedirectorcluster"

#: controller-runtime's reconcile-time buckets, thinned.
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: client-go's work queue buckets (10 ns to 10 s, by tenfolds), extended to minutes.
QUEUE_BUCKETS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0)
#: Hooks are meant to be fast: milliseconds, with the time limit's seconds at the top.
HOOK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0)


def action_result(outcome: ActionOutcome) -> str:
    """``succeeded``, ``failed``, ``timed_out`` or ``not_run`` (refused, member busy)."""
    if outcome.timed_out:
        return "timed_out"
    if outcome.exit_code is None:
        return "not_run"
    return "succeeded" if outcome.succeeded else "failed"


def count_states(clusters: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Clusters by ``status.state`` and members by ``state`` (``unknown`` where unset)."""
    cluster_states: Tally[str] = Tally()
    member_states: Tally[str] = Tally()
    for body in clusters:
        status = body.get("status") or {}
        cluster_states[status.get("state") or "unknown"] += 1
        for role in status.get("roles") or []:
            for member in role.get("members") or []:
                member_states[member.get("state") or "unknown"] += 1
    return dict(cluster_states), dict(member_states)


class _StateCollector:
    """Serves the latest counts published by :meth:`Telemetry.publish_states`."""

    def __init__(self) -> None:
        self.clusters: dict[str, int] = {}
        self.members: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        clusters, members = self.clusters, self.members  # replaced whole, never mutated
        for name, doc, counts in (
            ("kubedirector_clusters", "KubeDirectorClusters by status.state.", clusters),
            ("kubedirector_members", "Cluster members by state.", members),
        ):
            family = GaugeMetricFamily(name, doc, labels=["state"])
            for state, count in sorted(counts.items()):
                family.add_metric([state], count)
            yield family


class Telemetry:
    """The operator's metrics; every method is cheap and safe from any thread."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        c, q = ["controller"], ["name"]
        self._reconciles = Counter(
            "controller_runtime_reconcile", "Reconciles by result.", [*c, "result"], registry=r
        )
        self._reconcile_errors = Counter(
            "controller_runtime_reconcile_errors", "Reconciles that failed.", c, registry=r
        )
        self._reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Time of one reconcile.",
            c,
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self._active = Gauge(
            "controller_runtime_active_workers", "Reconciles running now.", c, registry=r
        )
        self._depth = Gauge("workqueue_depth", "Clusters waiting for a worker.", q, registry=r)
        self._adds = Counter("workqueue_adds", "Clusters added to the queue.", q, registry=r)
        self._queued = Histogram(
            "workqueue_queue_duration_seconds",
            "Seconds a cluster waited in the queue.",
            q,
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self._worked = Histogram(
            "workqueue_work_duration_seconds",
            "Seconds a worker held a cluster.",
            q,
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self._leader = Gauge(
            "leader_election_master_status",
            "1 while this replica holds the leader Lease.",
            ["name"],
            registry=r,
        )
        self._hook_time = Histogram(
            "kubedirector_hook_call_duration_seconds",
            "Time of one plugin hook call.",
            ["plugin", "hook"],
            buckets=HOOK_BUCKETS,
            registry=r,
        )
        self._hook_errors = Counter(
            "kubedirector_hook_errors",
            "Plugin hook calls that failed.",
            ["plugin", "hook"],
            registry=r,
        )
        self._actions = Counter(
            "kubedirector_actions",
            "In-container actions by result.",
            ["kind", "result"],
            registry=r,
        )
        self._states = _StateCollector()
        r.register(self._states)
        # Present from the start, so dashboards see 0 rather than no data.
        for result in ("success", "error", "requeue"):
            self._reconciles.labels(CONTROLLER, result)
        self._reconcile_errors.labels(CONTROLLER)
        self._active.labels(CONTROLLER)
        self._reconcile_time.labels(CONTROLLER)
        for queue_series in (self._depth, self._adds, self._queued, self._worked):
            queue_series.labels(QUEUE)

    # -- reconciles -------------------------------------------------------------

    def reconciled(self, seconds: float, *, failed: bool, requeue: bool) -> None:
        """Count one reconcile that took ``seconds``."""
        result = "error" if failed else "requeue" if requeue else "success"
        self._reconciles.labels(CONTROLLER, result).inc()
        if failed:
            self._reconcile_errors.labels(CONTROLLER).inc()
        self._reconcile_time.labels(CONTROLLER).observe(seconds)

    @contextmanager
    def measure_reconcile(self) -> Iterator[Callable[..., None]]:
        """Time the block as one reconcile, counted active meanwhile.

        Call the yielded function with ``failed=`` and ``requeue=`` to give its
        result; a block left by an exception counts as an error.
        """
        active = self._active.labels(CONTROLLER)
        active.inc()
        started = time.monotonic()
        result: dict[str, bool] = {}

        def record(*, failed: bool, requeue: bool) -> None:
            result.update(failed=failed, requeue=requeue)

        try:
            yield record
        finally:
            active.dec()
            self.reconciled(
                time.monotonic() - started,
                failed=result.get("failed", True),
                requeue=result.get("requeue", False),
            )

    # -- the work queue (a workqueue.QueueObserver) -------------------------------

    def added(self) -> None:
        """A cluster was marked that was not already waiting."""
        self._adds.labels(QUEUE).inc()

    def taken(self, waited: float) -> None:
        """A worker took a cluster that waited ``waited`` seconds."""
        self._queued.labels(QUEUE).observe(waited)

    def finished(self, worked: float) -> None:
        """A worker held a cluster for ``worked`` seconds."""
        self._worked.labels(QUEUE).observe(worked)

    def depth(self, waiting: int) -> None:
        """``waiting`` clusters wait for a worker now."""
        self._depth.labels(QUEUE).set(waiting)

    # -- plugins, actions, leadership, states -------------------------------------

    def hook_called(self, call: HookCall) -> None:
        """A :data:`~kubedirector_core.plugins.HookObserver`: time and failures per hook."""
        self._hook_time.labels(call.plugin, call.hook).observe(call.seconds)
        if call.error is not None:
            self._hook_errors.labels(call.plugin, call.hook).inc()

    def action_done(self, outcome: ActionOutcome) -> None:
        """Count one in-container action by its kind and result."""
        self._actions.labels(str(outcome.action.kind), action_result(outcome)).inc()

    def leading(self, lease: str, leads: bool) -> None:
        """Whether this replica holds the Lease ``lease``."""
        self._leader.labels(lease).set(1 if leads else 0)

    def publish_states(self, clusters: Iterable[Mapping[str, Any]]) -> None:
        """Recount clusters and members by state (called on the event loop, from the caches)."""
        self._states.clusters, self._states.members = count_states(clusters)

    # -- exposition ---------------------------------------------------------------

    def exposition(self) -> tuple[int, str, bytes]:
        """The ``/metrics`` answer in Prometheus' text format."""
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
