"""GPU placement on the real control plane, with KWOK GPU nodes.

Until the core renders and reconciles clusters, a role's objects come from the
core's stand-in renderer (``sample_role_objects``) passed through the plugin's
``kd_pre_create``, and are applied as they are: the real scheduler then shows
where the members land.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import tf_builders as tf
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.testing.conformance import sample_role_objects

pytestmark = pytest.mark.controlplane


@pytest.fixture
def gpu_nodes(control_plane: ControlPlane) -> Iterator[tuple[str, list[str], list[str]]]:
    """Five 1-GPU nodes of a product no other test uses, and two of another: deleted after."""
    tag = uuid.uuid4().hex[:6]
    product, decoy = f"NVIDIA-H100-80GB-HBM3-{tag}", f"Tesla-T4-{tag}"
    chosen = [NodeSpec(name=f"h100-{tag}-{i}", gpus=1, gpu_product=product) for i in range(5)]
    others = [NodeSpec(name=f"t4-{tag}-{i}", gpus=1, gpu_product=decoy) for i in range(2)]
    for node in chosen + others:
        control_plane.add_node(node, wait=False)
    control_plane.wait_nodes_ready([n.name for n in chosen + others])
    yield product, [n.name for n in chosen], [n.name for n in others]
    for node in chosen + others:
        control_plane.kubectl("delete", "node", node.name, "--wait=false", check=False)


def _rendered(product: str) -> list[dict[str, Any]]:
    document = tf.wire()
    document["metadata"]["annotations"]["tensorflow.kubedirector.io/gpu-product"] = product
    document["metadata"]["name"] = "tf"
    the_app, the_cluster = tf.app(), tf.cluster(document)
    objects = []
    for role in the_cluster.spec.roles:
        rendered = tf.hooks().pre_create(
            the_app, the_cluster, role, sample_role_objects(the_cluster, role)
        )
        for manifest in rendered:
            if manifest["kind"] == "StatefulSet":
                manifest["spec"]["podManagementPolicy"] = "Parallel"
        objects += rendered
    return objects


def _placement(plane: ControlPlane, namespace: str) -> dict[str, str | None]:
    pods = json.loads(plane.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
    return {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods["items"]}


def test_members_land_only_on_gpu_nodes_of_the_selected_product_one_per_node(
    control_plane: ControlPlane, namespace: str, gpu_nodes: tuple[str, list[str], list[str]]
) -> None:
    product, chosen, _others = gpu_nodes
    manifests = yaml.safe_dump_all(_rendered(product))
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=manifests)

    deadline = time.monotonic() + 60
    placement = _placement(control_plane, namespace)
    while (len(placement) < 5 or None in placement.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        placement = _placement(control_plane, namespace)

    assert sorted(placement) == ["tf-chief-0"] + [f"tf-worker-{i}" for i in range(4)]
    assert set(placement.values()) <= set(chosen), placement
    assert len(set(placement.values())) == 5, "spread: one member per node"
