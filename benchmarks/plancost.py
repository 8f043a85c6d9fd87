"""CPU per reconcile of a converged cluster: the planner alone, in process, no server.

What a worker spends on a cluster that needs nothing (every restart, every
resync, every unrelated watch event of a converged cluster) once the caches
answered: parse the cluster and the app from their wire form, build the
observation, plan. Pods follow the planned StatefulSets and every in-container
action succeeds, as in the runtime, until a plan changes nothing; then that
no-op reconcile is timed.

Run ``python -m benchmarks.plancost [--workers N ...]``; it prints one line per
size with the median CPU time (``time.process_time``) per reconcile. To compare
two checkouts, run it with ``PYTHONPATH=<checkout>`` for each, alternating, and
compare the medians (the machine is shared: compare ratios of runs made back
to back).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.harness import APP, bench_app, bench_cluster
from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plan import (
    ActionOutcome,
    Observed,
    ObservedPod,
    plan_cluster,
    record_outcome,
)
from kubedirector_core.plan.names import ROLE_LABEL
from kubedirector_core.plugins import Hooks, load_hooks

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _observed(
    cluster: dict[str, Any], app: dict[str, Any], pods: dict[str, ObservedPod]
) -> Observed:
    return Observed(
        cluster=KubeDirectorCluster.from_wire(cluster),
        app=KubeDirectorApp.from_wire(app),
        now=NOW,
        pods=dict(pods),
    )


def _pods_of(objects: tuple[dict[str, Any], ...]) -> dict[str, ObservedPod]:
    pods = {}
    for manifest in objects:
        if manifest["kind"] != "StatefulSet":
            continue
        name = manifest["metadata"]["name"]
        role = manifest["spec"]["template"]["metadata"]["labels"][ROLE_LABEL]
        for ordinal in range(manifest["spec"]["replicas"]):
            pod = f"{name}-{ordinal}"
            pods[pod] = ObservedPod(
                name=pod,
                role_id=role,
                uid=f"uid-{pod}",
                node_name="node-1",
                phase="Running",
                ready=True,
                container_id=f"{pod}/0",
                ip="10.0.0.1",
            )
    return pods


def converged(
    workers: int, hooks: Hooks
) -> tuple[dict[str, Any], dict[str, Any], dict[str, ObservedPod]]:
    """A cluster of 1 controller and ``workers`` workers, its app and pods, once converged."""
    app = bench_app(APP)
    cluster = bench_cluster("bench", workers)
    cluster["metadata"].update(namespace="bench", uid="uid-bench", generation=1)
    pods: dict[str, ObservedPod] = {}
    for _ in range(30):
        before = cluster.get("status")
        plan = plan_cluster(_observed(cluster, app, pods), hooks)
        pods = _pods_of(plan.objects)
        status = plan.status
        for action in plan.actions:
            status = record_outcome(status, ActionOutcome(action, 0, "ok"), NOW)
        cluster["status"] = json.loads(json.dumps(status))
        if not plan.actions and plan.status == before:
            return cluster, app, pods
    raise SystemExit(f"a cluster of {workers} workers did not converge")


def per_reconcile(workers: int, hooks: Hooks, rounds: int, repeat: int) -> float:
    """Median CPU seconds of one no-op reconcile (parse + plan) of a converged cluster."""
    cluster, app, pods = converged(workers, hooks)
    for _ in range(rounds // 10 + 1):
        plan_cluster(_observed(cluster, app, pods), hooks)
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(rounds):
            plan = plan_cluster(_observed(cluster, app, pods), hooks)
        samples.append((time.process_time() - start) / rounds)
        if plan.actions or plan.status != cluster["status"]:
            raise SystemExit("the timed reconcile was not a no-op")
    return statistics.median(samples)


def main() -> None:
    """Print the median time per no-op reconcile for each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, action="append", help="default: 2, 10, 50")
    parser.add_argument("--rounds", type=int, default=100, help="reconciles per sample")
    parser.add_argument("--repeat", type=int, default=5, help="samples per size")
    options = parser.parse_args()
    hooks = load_hooks()
    for workers in options.workers or [2, 10, 50]:
        seconds = per_reconcile(workers, hooks, options.rounds, options.repeat)
        print(json.dumps({"workers": workers, "ms_per_reconcile": round(seconds * 1000, 3)}))


if __name__ == "__main__":
    main()
