"""kd-tensorflow with the real operator on the local control plane, on KWOK GPU nodes.

The operator subprocess finds the plugin through its entry point (it is
installed); the app is the plugin's own catalog app. Each test adds GPU nodes
of a product no other test uses (plus decoys of another product with free
GPUs), and deletes them afterwards. Under KWOK a member's "container" is its
own directory, ``<state>/pods/<namespace>/<pod>/``: what the plugin delivered
to a member (TF_CONFIG, configmeta) is read there.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kd_tensorflow import catalog_path

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    condition,
    event_messages,
    get_cluster,
    wait_ready,
    wait_until,
    warning_events,
)

pytestmark = pytest.mark.controlplane

APP = catalog_path() / "tensorflow-training-gpu.yaml"
GPU = "nvidia.com/gpu"
GANG_GATE = "kubedirector.hpe.com/gang"
CLUSTER = "mnist"
PORT = 2222
#: Generous: the machine is shared and slow.
TIMEOUT = 180.0


@dataclass
class GpuPool:
    """GPU nodes of this test's own product, and decoys of another product."""

    product: str
    chosen: list[str]
    decoys: list[str]
    control_plane: ControlPlane
    tag: str

    def add(self, count: int = 1, gpus: int = 1) -> list[str]:
        """Add ``count`` more nodes of the chosen product with ``gpus`` each; wait until Ready."""
        start = len(self.chosen)
        names = [f"p-{self.tag}-{i}" for i in range(start, start + count)]
        for name in names:
            self.control_plane.add_node(
                NodeSpec(name=name, cpu="4", memory="8Gi", gpus=gpus, gpu_product=self.product),
                wait=False,
            )
        self.control_plane.wait_nodes_ready(names)
        self.chosen += names
        return names


@pytest.fixture
def gpu_pool(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[GpuPool]:
    """``param`` (default 5) one-GPU nodes of a fresh product and two decoys; deleted after."""
    tag = uuid.uuid4().hex[:6]
    pool = GpuPool(f"KD-TEST-GPU-{tag}", [], [], control_plane, tag)
    decoys = [f"d-{tag}-{i}" for i in range(2)]
    for name in decoys:
        control_plane.add_node(
            NodeSpec(name=name, cpu="4", memory="8Gi", gpus=1, gpu_product=f"KD-DECOY-{tag}"),
            wait=False,
        )
    pool.decoys = decoys
    try:
        pool.add(getattr(request, "param", 5))
        yield pool
    finally:
        names = pool.chosen + pool.decoys
        control_plane.kubectl("delete", "node", *names, "--wait=false", check=False)


def training_cluster(product: str, *, elastic: bool = False) -> dict[str, Any]:
    """1 chief and 4 workers with 1 GPU each, on GPUs of ``product``."""
    resources = {"limits": {"cpu": "1", "memory": "1Gi", GPU: "1"}}
    annotations = {"tensorflow.kubedirector.io/gpu-product": product}
    if elastic:
        annotations["tensorflow.kubedirector.io/elastic"] = "true"
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": {"name": CLUSTER, "annotations": annotations},
        "spec": {
            "app": "tensorflow-training-gpu",
            "roles": [
                {"id": "chief", "members": 1, "resources": resources},
                {"id": "worker", "members": 4, "resources": resources},
            ],
        },
    }


def install_app(control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, namespace, yaml.safe_load(APP.read_text()))


def pods(control_plane: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    """The cluster's pods by name, live and not being deleted."""
    listed = json.loads(
        control_plane.kubectl(
            "get",
            "pods",
            "-n",
            namespace,
            "-l",
            f"kubedirector.hpe.com/kdcluster={CLUSTER}",
            "-o",
            "json",
        ).stdout
    )["items"]
    return {p["metadata"]["name"]: p for p in listed if "deletionTimestamp" not in p["metadata"]}


def gated(pod: dict[str, Any]) -> bool:
    return any(g["name"] == GANG_GATE for g in pod["spec"].get("schedulingGates") or [])


def uids(control_plane: ControlPlane, namespace: str) -> dict[str, str]:
    return {name: p["metadata"]["uid"] for name, p in pods(control_plane, namespace).items()}


def pod_dir(control_plane: ControlPlane, namespace: str, pod: str) -> Path:
    return control_plane.pods_dir / namespace / pod


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def tasks(cluster: dict[str, Any]) -> dict[str, list[str]]:
    """The members' pods by role, in ordinal order, from the cluster's status."""
    found = {
        role["id"]: sorted(
            (m["pod"] for m in role.get("members") or []),
            key=lambda pod: int(pod.rsplit("-", 1)[1]),
        )
        for role in cluster["status"]["roles"]
    }
    assert {role: len(pods) for role, pods in found.items()} == {"chief": 1, "worker": 4}
    return found


def member_names(cluster: dict[str, Any]) -> list[str]:
    return sorted(pod for pods in tasks(cluster).values() for pod in pods)


def expected_cluster_spec(cluster: dict[str, Any], namespace: str) -> dict[str, list[str]]:
    """TF_CONFIG's ``cluster`` as the cluster's own names make it: fqdn:port per task."""
    domain = f"{cluster['status']['clusterService']}.{namespace}.svc.cluster.local"
    return {
        role: [f"{pod}.{domain}:{PORT}" for pod in pods] for role, pods in tasks(cluster).items()
    }


def assert_tf_config_delivered(
    control_plane: ControlPlane, namespace: str, cluster: dict[str, Any]
) -> None:
    """Each member's own directory holds its TF_CONFIG (file and configmeta), exactly."""
    spec = expected_cluster_spec(cluster, namespace)
    for role, index, pod in [
        (role, index, pod)
        for role, pods in tasks(cluster).items()
        for index, pod in enumerate(pods)
    ]:
        home = pod_dir(control_plane, namespace, pod)

        def delivered(home: Path = home) -> Any:
            return read_json(home / "etc/guestconfig/tensorflow/tf_config.json")

        tf_config = wait_until(f"{pod}: tf_config.json", delivered, timeout=60)
        assert tf_config == {"cluster": spec, "task": {"type": role, "index": index}}, pod
        configmeta = read_json(home / "etc/guestconfig/configmeta.json")
        tensorflow = configmeta["plugin_metadata"]["tensorflow"]
        assert tensorflow["cluster"] == spec, pod
        assert tensorflow["tasks"][pod] == {"type": role, "index": index}
        assert configmeta["node"]["fqdn"] + f":{PORT}" == spec[role][index]
        env = (home / "etc/guestconfig/tensorflow/tf_config.sh").read_text()
        assert "export TF_CONFIG=" in env


def wait_all_ready(control_plane: ControlPlane, namespace: str) -> dict[str, Any]:
    """The cluster Ready with all five members' pods Ready."""
    cluster = wait_ready(control_plane, namespace, CLUSTER, timeout=TIMEOUT)
    names = member_names(cluster)
    wait_until(
        "all five members' pods Ready",
        lambda: (
            all(
                any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (p.get("status") or {}).get("conditions") or []
                )
                for p in pods(control_plane, namespace).values()
            )
            and sorted(pods(control_plane, namespace)) == names
        ),
        timeout=TIMEOUT,
    )
    return cluster


def wait_admitted(control_plane: ControlPlane, namespace: str, reason: str) -> dict[str, Any]:
    """Wait for the cluster's ``Admitted`` condition to have ``reason``; fail showing the last."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = condition(get_cluster(control_plane, namespace, CLUSTER), "Admitted")
        if found.get("reason") == reason:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"Admitted never had reason {reason} within {TIMEOUT:.0f}s: {found}")
        time.sleep(0.25)


def gang_admitted_events(control_plane: ControlPlane, namespace: str) -> list[str]:
    """The messages of the cluster's ``GangAdmitted`` Events."""
    return event_messages(control_plane, namespace, CLUSTER, "GangAdmitted")


def node_of(control_plane: ControlPlane, namespace: str, pod: str) -> str:
    node: str = pods(control_plane, namespace)[pod]["spec"]["nodeName"]
    return node


def test_members_land_on_the_chosen_gpus_hold_their_tf_config_and_restart_as_a_group(
    control_plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    gpu_pool: GpuPool,
) -> None:
    install_app(control_plane, namespace)
    apply(control_plane, namespace, training_cluster(gpu_pool.product))

    cluster = wait_all_ready(control_plane, namespace)
    names = member_names(cluster)
    placement = {name: node_of(control_plane, namespace, name) for name in names}
    assert set(placement.values()) <= set(gpu_pool.chosen), placement
    assert len(set(placement.values())) == 5, f"one GPU per node: {placement}"
    assert condition(cluster, "Admitted")["status"] == "True"
    assert_tf_config_delivered(control_plane, namespace, cluster)

    # A node is lost (deleted: confirmed gone). Not elastic: the whole group restarts.
    before = uids(control_plane, namespace)
    gpu_pool.add(1)  # room for the group to come back
    lost = placement[tasks(cluster)["worker"][2]]
    control_plane.kubectl("delete", "node", lost)

    def all_recreated() -> bool:
        now = uids(control_plane, namespace)
        return sorted(now) == names and all(now[p] != before[p] for p in names)

    wait_until("every member's pod re-created (new uids)", all_recreated, timeout=TIMEOUT)
    cluster = wait_all_ready(control_plane, namespace)
    placement = {name: node_of(control_plane, namespace, name) for name in names}
    assert lost not in placement.values()
    assert set(placement.values()) <= set(gpu_pool.chosen), placement
    decisions = [
        e for e in warning_events(control_plane, namespace, CLUSTER) if e["reason"] == "NodeDown"
    ]
    assert any("restarting the training group" in e["message"] for e in decisions), decisions
    # The re-created members start from fresh directories and are told the same cluster.
    assert_tf_config_delivered(control_plane, namespace, cluster)


@pytest.fixture
def gpu_hog(control_plane: ControlPlane) -> Iterator[Any]:
    """Creates a pod holding one GPU on a node, in a namespace of its own; removed after."""
    other = f"hog-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", other)

    def hog(node: str) -> str:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "gpu-hog", "namespace": other},
            "spec": {
                "nodeName": node,
                "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [
                    {
                        "name": "hog",
                        "image": "example.invalid/hog:1",
                        "resources": {"limits": {GPU: "1"}},
                    }
                ],
            },
        }
        control_plane.kubectl("create", "-f", "-", input=json.dumps(pod))
        return other

    try:
        yield hog
    finally:
        control_plane.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.parametrize("gpu_pool", [4], indirect=True)
def test_the_gang_waits_gated_for_five_gpus_and_starts_all_together_when_a_node_comes(
    control_plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    gpu_pool: GpuPool,
    gpu_hog: Any,
) -> None:
    # 4 nodes of the product, one GPU each; another namespace's pod holds one: 3 free.
    gpu_hog(gpu_pool.chosen[0])
    install_app(control_plane, namespace)
    apply(control_plane, namespace, training_cluster(gpu_pool.product))

    admitted = wait_admitted(control_plane, namespace, "InsufficientCapacity")
    assert admitted["status"] == "False"
    assert f"needs 5 x {GPU} (1 each)" in admitted["message"], admitted
    assert gpu_pool.product in admitted["message"], admitted
    assert admitted["message"].endswith("; 3 free"), admitted
    waiting = pods(control_plane, namespace)
    assert sorted(waiting) == member_names(get_cluster(control_plane, namespace, CLUSTER))
    assert all(gated(p) and not p["spec"].get("nodeName") for p in waiting.values()), waiting

    gpu_pool.add(1, gpus=2)  # 3 + 2 free: room for all five

    cluster = wait_all_ready(control_plane, namespace)
    admitted = condition(cluster, "Admitted")
    assert admitted["status"] == "True"
    # The reconcile that admitted the gang counted the pods it released (plus any released
    # before: none, all five were gated above) in its one GangAdmitted Event: five at once.
    assert admitted["message"] == "5 member(s) of the gang admitted together", admitted
    assert gang_admitted_events(control_plane, namespace) == [admitted["message"]]
    live = pods(control_plane, namespace)
    assert not any(gated(p) for p in live.values())
    assert {p["spec"]["nodeName"] for p in live.values()} == set(gpu_pool.chosen[1:])
    scheduled = sorted(
        c["lastTransitionTime"]
        for p in live.values()
        for c in p["status"]["conditions"]
        if c["type"] == "PodScheduled"
    )
    print(f"\npods scheduled between {scheduled[0]} and {scheduled[-1]}")


@pytest.mark.parametrize("gpu_pool", [6], indirect=True)
def test_elastic_training_replaces_only_the_worker_whose_node_was_lost(
    control_plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    gpu_pool: GpuPool,
) -> None:
    install_app(control_plane, namespace)
    apply(control_plane, namespace, training_cluster(gpu_pool.product, elastic=True))
    cluster = wait_all_ready(control_plane, namespace)
    before = uids(control_plane, namespace)
    names = member_names(cluster)
    lost_member = tasks(cluster)["worker"][1]
    lost = node_of(control_plane, namespace, lost_member)

    control_plane.kubectl("delete", "node", lost)

    def replaced() -> bool:
        now = uids(control_plane, namespace)
        return lost_member in now and now[lost_member] != before[lost_member]

    wait_until(f"{lost_member} re-created", replaced, timeout=TIMEOUT)
    cluster = wait_all_ready(control_plane, namespace)
    after = uids(control_plane, namespace)
    assert after[lost_member] != before[lost_member]
    assert {p: after[p] for p in names if p != lost_member} == {
        p: before[p] for p in names if p != lost_member
    }, "the other members keep running"
    assert node_of(control_plane, namespace, lost_member) in gpu_pool.chosen
    assert node_of(control_plane, namespace, lost_member) != lost
    assert_tf_config_delivered(control_plane, namespace, cluster)
