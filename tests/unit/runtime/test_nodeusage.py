"""Node usage: the requests of every bound, running pod, summed per node, from watch events."""

from __future__ import annotations

import tracemalloc
from typing import Any

from kubedirector_core.runtime.cache import Caches
from kubedirector_core.runtime.nodeusage import NodeUsage, pod_usage


def pod(
    name: str,
    node: str | None,
    *,
    gpus: int = 0,
    cpu: str = "500m",
    phase: str = "Running",
    namespace: str = "other",
    init_cpu: str | None = None,
) -> dict[str, Any]:
    limits: dict[str, str] = {"memory": "1Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "resources": {"requests": {"cpu": cpu}, "limits": limits}}]
    }
    if init_cpu:
        spec["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": init_cpu}}}]
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": spec,
        "status": {"phase": phase},
    }


def test_a_bound_pod_counts_its_requests_with_limits_standing_in_and_init_containers() -> None:
    usage = NodeUsage()
    usage.apply("ADDED", pod("a", "n1", gpus=1))
    usage.apply("ADDED", pod("b", "n1", cpu="250m", init_cpu="2"))

    assert usage.used_on("n1") == {"cpu": 2.5, "memory": 2 * 2**30, "nvidia.com/gpu": 1.0}
    assert usage.used_on("n2") == {}


def test_unbound_and_terminated_pods_take_nothing() -> None:
    usage = NodeUsage()
    usage.apply("ADDED", pod("pending", None, gpus=1))
    usage.apply("ADDED", pod("done", "n1", gpus=1, phase="Succeeded"))
    usage.apply("ADDED", pod("crashed", "n1", gpus=1, phase="Failed"))

    assert usage.used_on("n1") == {}
    assert len(usage) == 0
    assert pod_usage(pod("pending", None)) is None


def test_binding_finishing_and_deleting_move_the_sums_and_say_when_room_was_freed() -> None:
    usage = NodeUsage()
    assert usage.apply("ADDED", pod("a", None, gpus=1)) == {}
    assert usage.apply("MODIFIED", pod("a", "n1", gpus=1)) == {"n1": False}
    assert usage.apply("MODIFIED", pod("a", "n1", gpus=1)) == {}, "no change, no news"
    usage.apply("ADDED", pod("b", "n1", gpus=1))
    assert usage.used_on("n1")["nvidia.com/gpu"] == 2

    assert usage.apply("MODIFIED", pod("a", "n1", gpus=1, phase="Succeeded")) == {"n1": True}
    assert usage.used_on("n1")["nvidia.com/gpu"] == 1
    assert usage.apply("DELETED", pod("b", "n1", gpus=1)) == {"n1": True}
    assert usage.used_on("n1") == {}
    assert usage.nodes() == []


def test_cpu_fractions_add_and_subtract_exactly() -> None:
    usage = NodeUsage()
    for i in range(10):
        usage.apply("ADDED", pod(f"p{i}", "n1", cpu="100m"))
    for i in range(10):
        usage.apply("DELETED", pod(f"p{i}", "n1", cpu="100m"))
    usage.apply("ADDED", pod("last", "n1", cpu="300m"))

    assert usage.used_on("n1")["cpu"] == 0.3


def test_a_relist_drops_pods_that_vanished_and_keeps_the_rest() -> None:
    usage = NodeUsage()
    usage.apply("ADDED", pod("stays", "n1", gpus=1))
    usage.apply("ADDED", pod("gone", "n2", gpus=1))

    changes = usage.replace_all([pod("stays", "n1", gpus=1), pod("new", "n3", gpus=2)])

    assert changes == {"n2": True, "n3": False}
    assert usage.used_on("n1")["nvidia.com/gpu"] == 1
    assert usage.used_on("n2") == {}
    assert usage.used_on("n3")["nvidia.com/gpu"] == 2


def test_the_caches_give_each_node_its_usage_whichever_arrives_first() -> None:
    caches = Caches()
    caches.set_node_used("n1", {"nvidia.com/gpu": 1.0})
    node = {
        "metadata": {"name": "n1"},
        "status": {
            "allocatable": {"nvidia.com/gpu": "2"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    caches.store_node(node)
    assert caches.nodes["n1"].used == {"nvidia.com/gpu": 1.0}

    caches.store_node(node)  # a later Node event keeps the usage
    assert caches.nodes["n1"].used == {"nvidia.com/gpu": 1.0}
    caches.set_node_used("n1", {})
    assert caches.nodes["n1"].used == {}


def test_three_thousand_pods_cost_well_under_a_kilobyte_each() -> None:
    usage = NodeUsage()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(3000):
        # Each event's pod is built and dropped, as a decoded watch event is: what stays
        # is what the usage keeps (its key, node name and shared request tuples).
        usage.apply("ADDED", pod(f"member-{i}", f"node-{i % 100}", gpus=i % 2, namespace="ns"))
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert len(usage) == 3000
    assert usage.used_on("node-1")["nvidia.com/gpu"] == 30
    print(f"\n3000 pods: {kept / 1024:.0f} KiB kept ({kept / 3000:.0f} bytes per pod)")
    assert kept < 3000 * 1024
