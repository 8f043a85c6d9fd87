"""The cluster-wide watch of bound pods keeps each node's usage, on the real API server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.runtime.connection import load_configuration
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.nodeusage import NodeUsage, PodUsageWatch
from kubedirector_core.testing.operator import grant_operator, wait_until

pytestmark = pytest.mark.controlplane


@pytest.fixture
def gpu_node(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """A 4-GPU node of this test's own; deleted afterwards."""
    name = f"{namespace}-gpu"
    control_plane.add_node(NodeSpec(name=name, gpus=4))
    try:
        yield name
    finally:
        control_plane.kubectl("delete", "node", name, "--wait=false", check=False)


def bound_pod(name: str, node: str | None, gpus: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": "example.invalid/x:1",
                "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
            }
        ]
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def test_usage_follows_pods_bound_anywhere_and_says_when_room_is_freed(
    control_plane: ControlPlane, namespace: str, gpu_node: str
) -> None:
    # Before the watch starts: one pod bound (counted by the LIST), one unbound (never counted).
    create = ("create", "-n", namespace, "-f", "-")
    control_plane.kubectl(*create, input=json.dumps(bound_pod("early", gpu_node, 1)))
    control_plane.kubectl(*create, input=json.dumps(bound_pod("pending", None, 1)))
    # The operator's own identity: it must be allowed to list and watch pods everywhere.
    api = KubeApi(client.ApiClient(load_configuration(grant_operator(control_plane))))
    usage = NodeUsage()
    freed = threading.Event()

    def changed(changes: Any) -> None:
        if changes.get(gpu_node):
            freed.set()

    watch = PodUsageWatch(api, usage, changed, timeout_seconds=30)
    watch.prime()
    assert usage.used_on(gpu_node) == {"nvidia.com/gpu": 1.0}
    watch.start()
    watch.start()  # once only
    try:
        control_plane.kubectl(*create, input=json.dumps(bound_pod("late", gpu_node, 2)))
        wait_until(
            "the later pod counted",
            lambda: usage.used_on(gpu_node) == {"nvidia.com/gpu": 3.0},
            timeout=60,
        )
        assert not freed.is_set()
        control_plane.kubectl("delete", "pod", "early", "-n", namespace, "--wait=false")
        wait_until(
            "the deleted pod's GPU freed",
            lambda: usage.used_on(gpu_node) == {"nvidia.com/gpu": 2.0},
            timeout=60,
        )
        assert freed.is_set()
        assert [t.name for t in threading.enumerate()].count("kd-node-usage") == 1
    finally:
        watch.stop()
        api.api_client.close()  # type: ignore[no-untyped-call]
