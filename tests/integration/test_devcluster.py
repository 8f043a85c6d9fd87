"""The local control plane behaves like a real cluster for what the operator relies on."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.runtime.podexec import exec_in_pod

pytestmark = pytest.mark.controlplane


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def get_json(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl("get", *args, "-o", "json").stdout)


def statefulset(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "example.invalid/app:1",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


def ready_pods(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    pods = get_json(plane, "pods", "-n", namespace, "-l", selector)["items"]
    return [
        pod
        for pod in pods
        if pod["status"].get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions", [])
        )
    ]


def test_statefulset_pods_run_on_fake_nodes_and_are_recreated(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(statefulset("web", 3))
    )
    pods = wait_for(
        "3 Ready pods",
        lambda: (
            len(ready_pods(control_plane, namespace, "app=web")) == 3
            and ready_pods(control_plane, namespace, "app=web")
        ),
    )
    nodes = {n["metadata"]["name"]: n for n in get_json(control_plane, "nodes")["items"]}
    for pod in pods:
        node = nodes[pod["spec"]["nodeName"]]
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert pod["status"]["podIP"]

    claims = get_json(control_plane, "pvc", "-n", namespace)["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == [
        "data-web-0",
        "data-web-1",
        "data-web-2",
    ]
    wait_for(
        "PVCs Bound",
        lambda: all(
            c["status"].get("phase") == "Bound"
            for c in get_json(control_plane, "pvc", "-n", namespace)["items"]
        ),
    )

    old_uid = next(p["metadata"]["uid"] for p in pods if p["metadata"]["name"] == "web-1")
    control_plane.kubectl("delete", "pod", "web-1", "-n", namespace, "--wait=false")

    def recreated() -> bool:
        current = ready_pods(control_plane, namespace, "app=web")
        uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in current}
        return len(current) == 3 and uids.get("web-1") not in (None, old_uid)

    wait_for("web-1 recreated with a new UID and Ready", recreated)


def test_gpu_pod_waits_for_a_node_with_enough_gpus(
    control_plane: ControlPlane, namespace: str
) -> None:
    gpu_nodes = [
        n
        for n in get_json(control_plane, "nodes")["items"]
        if "nvidia.com/gpu" in n["status"].get("allocatable", {})
    ]
    assert gpu_nodes, "the session's control plane has GPU nodes"
    assert all(int(n["status"]["allocatable"]["nvidia.com/gpu"]) == 1 for n in gpu_nodes)

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "trainer", "labels": {"app": "trainer"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "example.invalid/train:1",
                    "resources": {
                        "requests": {"nvidia.com/gpu": "2"},
                        "limits": {"nvidia.com/gpu": "2"},
                    },
                }
            ]
        },
    }
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod))

    def failed_scheduling() -> list[dict[str, Any]]:
        events = get_json(
            control_plane,
            "events",
            "-n",
            namespace,
            "--field-selector",
            "involvedObject.name=trainer,reason=FailedScheduling",
        )["items"]
        return [e for e in events if "nvidia.com/gpu" in e["message"]]

    events = wait_for("a FailedScheduling event naming nvidia.com/gpu", failed_scheduling)
    assert "Insufficient nvidia.com/gpu" in events[0]["message"]
    assert (
        get_json(control_plane, "pod", "trainer", "-n", namespace)["status"]["phase"] == "Pending"
    )

    big = NodeSpec(name=f"kwok-gpu2-{uuid.uuid4().hex[:6]}", gpus=2)
    control_plane.add_node(big)
    try:
        node_name = wait_for(
            "the pod scheduled",
            lambda: get_json(control_plane, "pod", "trainer", "-n", namespace)["spec"].get(
                "nodeName"
            ),
        )
        assert node_name == big.name
        wait_for("the pod Ready", lambda: ready_pods(control_plane, namespace, "app=trainer") != [])
        # The GPU taint was tolerated automatically (ExtendedResourceToleration).
        tolerations = get_json(control_plane, "pod", "trainer", "-n", namespace)["spec"][
            "tolerations"
        ]
        assert any(t.get("key") == "nvidia.com/gpu" for t in tolerations)
    finally:
        control_plane.kubectl(
            "delete", "pod", "trainer", "-n", namespace, "--wait=false", check=False
        )
        control_plane.kubectl("delete", "node", big.name, "--wait=false", check=False)


def test_exec_returns_output_and_exit_status_and_writes_in_the_pods_own_directory(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(statefulset("box", 2))
    )
    wait_for("2 Ready pods", lambda: len(ready_pods(control_plane, namespace, "app=box")) == 2)
    wait_for(
        "box-0's exec rule",
        lambda: (
            control_plane.kubectl(
                "get", "execs.kwok.x-k8s.io", "box-0", "-n", namespace, check=False
            ).returncode
            == 0
        ),
    )

    with control_plane.api_client() as api:
        check_exec(api, control_plane, namespace)


def check_exec(api: client.ApiClient, control_plane: ControlPlane, namespace: str) -> None:
    result = exec_in_pod(
        api,
        namespace,
        "box-0",
        [
            "sh",
            "-c",
            'echo "written by $KD_POD_NAME" > note.txt; echo to-stdout; echo to-stderr >&2; exit 7',
        ],
    )
    assert result.exit_code == 7
    assert result.stdout == "to-stdout\n"
    assert result.stderr == "to-stderr\n"

    ok = exec_in_pod(api, namespace, "box-0", ["cat", "note.txt"])
    assert ok.exit_code == 0
    assert ok.stdout == "written by box-0\n"

    own = control_plane.pod_dir(namespace, "box-0")
    other = control_plane.pod_dir(namespace, "box-1")
    assert (own / "note.txt").read_text() == "written by box-0\n"
    assert not (other / "note.txt").exists()

    guest_root = exec_in_pod(api, namespace, "box-1", ["sh", "-c", 'printf %s "$KD_GUEST_ROOT"'])
    assert guest_root.stdout == str(other)


def test_rbac_forbids_an_identity_without_rights(
    control_plane: ControlPlane, namespace: str
) -> None:
    from kubernetes import config

    kubeconfig = control_plane.kubeconfig_for("nobody@example.com")
    with (
        config.new_client_from_config(config_file=str(kubeconfig)) as api,
        pytest.raises(client.ApiException) as forbidden,
    ):
        client.CoreV1Api(api).list_namespaced_pod(namespace)
    assert forbidden.value.status == 403
    assert "nobody@example.com" in str(forbidden.value.body)

    # The admin identity, by contrast, may.
    with control_plane.api_client() as api:
        assert client.CoreV1Api(api).list_namespaced_pod(namespace).items == []
