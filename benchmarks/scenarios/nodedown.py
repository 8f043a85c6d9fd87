"""Scenario 6: a node carrying members of many clusters fails; how fast are they replaced?

A pool of fake nodes is reserved by a label. First only the victim node is in
the pool, so every cluster's member (one controller each, pinned to the pool)
lands on it; then two spare nodes join the pool, and the victim fails. The
clock starts at the failure condition and stops, per member, when a watch sees
its pod re-created on another node and Ready. The default (replace) policy acts
after the cluster's ``nodeDownGraceSeconds``.

How the node fails: ``ControlPlane.stop_heartbeat`` (the node turns
NotReady/Unknown; the clock starts when its Ready condition changes) when the
control plane offers it, else the Node object is deleted (the clock starts at
the delete). The record says which. A pod on a cut-off node can only be deleted forcibly:
the operator then loads the policy ``benchmarks/plugins/kd_bench_force_policy.py``
(``KD_EXTRA_PLUGINS``), which replaces with ``force`` after the grace.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.harness import Bench, bench_cluster
from benchmarks.records import Record, Target
from benchmarks.scenarios import Context
from benchmarks.stats import summary
from benchmarks.watching import Manifest, Tracker, all_done, pod_ready, wait
from kubedirector_core.devcluster.kwok import NodeSpec

NAMESPACE = "nodedown"
POOL_LABEL = "kubedirector.bench/pool"
VICTIM = "kwok-victim"
SPARES = ("kwok-spare-0", "kwok-spare-1")
GRACE_SECONDS = 10
TIMEOUT = 900.0
#: Where the force-after-grace node-down policy module lives, and its name.
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
FORCE_POLICY = "kd_bench_force_policy"


def pinned_cluster(name: str, app: str) -> Manifest:
    """One controller on the benchmark's node pool, with a short node-down grace."""
    cluster = bench_cluster(name, 0, app, {"nodeDownGraceSeconds": GRACE_SECONDS})
    cluster["spec"]["roles"][0]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": POOL_LABEL, "operator": "In", "values": [NAMESPACE]}
                        ]
                    }
                ]
            }
        }
    }
    return cluster


def _policy_env(bench: Bench) -> dict[str, str]:
    """Load the force-after-grace policy when the node will be cut off rather than deleted."""
    if not callable(getattr(bench.plane, "stop_heartbeat", None)):
        return {}
    folder = str(PLUGINS)
    path = os.environ.get("PYTHONPATH")
    return {
        "KD_EXTRA_PLUGINS": FORCE_POLICY,
        "PYTHONPATH": f"{folder}{os.pathsep}{path}" if path else folder,
    }


def _node_not_ready(node: Manifest) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") != "True" for c in conditions)


def _fail_node(context: Context) -> tuple[str, float]:
    """Fail the victim; return how, and when the condition began (monotonic)."""
    bench = context.bench
    stop_heartbeat = getattr(bench.plane, "stop_heartbeat", None)
    if callable(stop_heartbeat):
        stop_heartbeat(VICTIM)
        at = wait(
            bench.api,
            "/api/v1/nodes",
            Tracker(_node_not_ready),
            lambda tracker: any(key[1] == VICTIM for key in tracker.done_at),
            what=f"node {VICTIM} NotReady",
            timeout=TIMEOUT,
        )
        return "heartbeat stopped (ControlPlane.stop_heartbeat)", at
    at = time.monotonic()
    bench.plane.kubectl("delete", "node", VICTIM, "--wait=false")
    return "Node deleted (ControlPlane.stop_heartbeat not available)", at


def run(context: Context) -> list[Record]:
    """Fail the node under ``Profile.nodedown_clusters`` members; return the record."""
    load_before = machine.load_average()
    bench = context.bench
    count = context.profile.nodedown_clusters
    namespace = bench.namespace(NAMESPACE)
    app = bench.install_app(namespace, with_setup=False)
    bench.add_nodes([NodeSpec(name=VICTIM, labels={POOL_LABEL: NAMESPACE})])
    operator = bench.operator([namespace], context.profile.operator_args(), _policy_env(bench))
    operator.start()
    try:
        bench.apply_all([pinned_cluster(f"d{i}", app) for i in range(count)], namespace)
        bench.wait_clusters_ready(namespace, count, TIMEOUT)
        before = {pod["metadata"]["name"]: pod for pod in bench.pods(namespace)}
        misplaced = [name for name, pod in before.items() if pod["spec"].get("nodeName") != VICTIM]
        if misplaced:
            raise RuntimeError(f"members not on {VICTIM}: {', '.join(misplaced)}")
        bench.add_nodes([NodeSpec(name=name, labels={POOL_LABEL: NAMESPACE}) for name in SPARES])
        old_uids = {pod["metadata"]["uid"] for pod in before.values()}

        def replaced(pod: Manifest) -> bool:
            return (
                pod["metadata"]["uid"] not in old_uids
                and pod["spec"].get("nodeName") in SPARES
                and pod_ready(pod)
            )

        method, failed_at = _fail_node(context)
        tracker = Tracker(replaced)
        wait(
            bench.api,
            f"/api/v1/namespaces/{namespace}/pods",
            tracker,
            all_done(len(before)),
            what=f"{len(before)} members Ready on the spare nodes",
            timeout=TIMEOUT,
        )
        ready_again = bench.wait_clusters_ready(namespace, count, TIMEOUT)
    finally:
        operator.stop()
    delays = [at - failed_at for at in tracker.done_at.values()]
    figures: dict[str, Any] = {
        "members": len(before),
        "method": method,
        "replaced_seconds": summary(delays),
        "all_clusters_ready_again_seconds": round(ready_again - failed_at, 3),
        "samples": sorted(round(d, 3) for d in delays),
    }
    bench.abandon_clusters(namespace, TIMEOUT)
    bench.plane.kubectl("delete", "node", *SPARES, VICTIM, "--wait=false", check=False)
    p99 = figures["replaced_seconds"]["p99"]
    return [
        context.record(
            "nodedown",
            "Node-down reaction (replace policy)",
            {
                "clusters": count,
                "members_on_failed_node": len(before),
                "node_down_grace_seconds": GRACE_SECONDS,
                "failure": method,
                "spare_nodes": len(SPARES),
                "operator": context.profile.settings(),
            },
            figures,
            [
                Target(
                    name=f"node-down: {len(before)} members replaced",
                    target=f"p99 <= grace + 1 s ({GRACE_SECONDS + 1} s)",
                    measured=f"p99 {p99:.1f} s (max {figures['replaced_seconds']['max']:.1f} s)",
                    met=p99 <= GRACE_SECONDS + 1,
                )
            ],
            load_before,
            [
                f"failure: {method}; the clock starts at the failure condition",
                "policy: " + (FORCE_POLICY if _policy_env(bench) else "the core's default"),
            ],
        )
    ]
