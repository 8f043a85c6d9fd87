"""The operator takes a cluster through its life: setup, resize, pod loss, quiet, deletion."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    cluster_ready,
    get_cluster,
    make_setup_package,
    recorded_calls,
    wait_until,
)

pytestmark = pytest.mark.controlplane


def recorder_app(package_url: str, *, persist: bool = True) -> dict[str, Any]:
    """A small app whose startscript records every call."""
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorApp",
        "metadata": {"name": "recorder"},
        "spec": {
            "label": {"name": "Recorder"},
            "distroID": "test/recorder",
            "version": "1.0",
            "configSchemaVersion": 7,
            "defaultImageRepoTag": "example.invalid/recorder:1",
            "defaultConfigPackage": {"packageURL": package_url, "useNewSetupLayout": True},
            "defaultEventList": ["configure", "addnodes", "delnodes"],
            **({"defaultPersistDirs": ["/data"]} if persist else {}),
            "services": [{"id": "web", "label": {"name": "web"}, "endpoint": {"port": 8080}}],
            "roles": [{"id": "worker", "cardinality": "1+"}],
            "config": {
                "selectedRoles": ["worker"],
                "roleServices": [{"roleID": "worker", "serviceIDs": ["web"]}],
            },
        },
    }


def recorder_cluster(members: int, *, storage: bool = False) -> dict[str, Any]:
    role: dict[str, Any] = {
        "id": "worker",
        "members": members,
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
    }
    if storage:
        role["storage"] = {"size": "1Gi"}
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": {"name": "rec"},
        "spec": {"app": "recorder", "roles": [role]},
    }


def apply(control_plane: ControlPlane, namespace: str, document: dict[str, Any]) -> None:
    control_plane.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(document),
    )


def members(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for role in cluster["status"].get("roles") or [] for m in role.get("members") or []]


def wait_ready(
    control_plane: ControlPlane, namespace: str, name: str = "rec", timeout: float = 120
) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        cluster = get_cluster(control_plane, namespace, name)
        return cluster if cluster_ready(cluster) else None

    result = wait_until(f"cluster {name} Ready", ready, timeout=timeout)
    assert isinstance(result, dict)
    return result


def fqdns_in(call: str) -> list[str]:
    match = re.search(r"--fqdns (\S+)", call)
    return match.group(1).split(",") if match else []


@pytest.fixture
def package(tmp_path: Path) -> str:
    return make_setup_package(tmp_path / "recorder-setup.tgz")


@pytest.fixture
def recorder(
    control_plane: ControlPlane, kubedirector_crds: None, namespace: str, package: str
) -> None:
    apply(control_plane, namespace, recorder_app(package))


def objects(control_plane: ControlPlane, namespace: str) -> dict[str, list[str]]:
    found = json.loads(
        control_plane.kubectl(
            "get",
            "statefulsets,services,pvc,pods",
            "-n",
            namespace,
            "-l",
            "kubedirector.hpe.com/kdcluster",
            "-o",
            "json",
        ).stdout
    )["items"]
    by_kind: dict[str, list[str]] = {}
    for item in found:
        by_kind.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return {kind: sorted(names) for kind, names in by_kind.items()}


def test_setup_runs_once_per_member_and_resize_notifies_exactly_the_right_members(
    control_plane: ControlPlane, namespace: str, recorder: None, operator: OperatorProcess
) -> None:
    apply(control_plane, namespace, recorder_cluster(3))
    cluster = wait_ready(control_plane, namespace)
    first = [m["pod"] for m in members(cluster)]
    assert len(first) == 3
    for pod in first:
        own = control_plane.pod_dir(namespace, pod)
        assert recorded_calls(own) == ["--configure"]
        configmeta = json.loads((own / "etc/guestconfig/configmeta.json").read_text())
        assert configmeta["node"]["hostname"].startswith(pod)
        assert configmeta["cluster"]["name"] == "rec"

    apply(control_plane, namespace, recorder_cluster(5))
    cluster = wait_ready(control_plane, namespace)
    pods = [m["pod"] for m in members(cluster)]
    added = [pod for pod in pods if pod not in first]
    assert len(pods) == 5
    assert len(added) == 2
    configmeta = json.loads(
        (control_plane.pod_dir(namespace, added[0]) / "etc/guestconfig/configmeta.json").read_text()
    )
    fqdn = {
        pod: next(
            f
            for f in configmeta["nodegroups"]["1"]["roles"]["worker"]["fqdns"]
            if f.startswith(f"{pod}.")
        )
        for pod in pods
    }
    for pod in first:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        assert calls[0] == "--configure"
        notified = [
            f for call in calls[1:] if call.startswith("--addnodes") for f in fqdns_in(call)
        ]
        assert notified == [fqdn[p] for p in added], calls
        assert all("--role worker" in call for call in calls[1:])
    for pod in added:
        assert recorded_calls(control_plane.pod_dir(namespace, pod)) == ["--configure"]

    apply(control_plane, namespace, recorder_cluster(2))
    cluster = wait_ready(control_plane, namespace)
    kept = [m["pod"] for m in members(cluster)]
    assert kept == pods[:2]
    removed = pods[2:]
    for pod in kept:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        assert calls.count("--configure") == 1
        deleted = [f for call in calls if call.startswith("--delnodes") for f in fqdns_in(call)]
        assert sorted(deleted) == sorted(fqdn[p] for p in removed), calls
        assert len(deleted) == len(set(deleted))
    assert objects(control_plane, namespace)["Pod"] == sorted(kept)


def test_a_deleted_pod_is_recreated_and_setup_reruns_only_without_a_volume(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    package: str,
    operator: OperatorProcess,
) -> None:
    apply(control_plane, namespace, recorder_app(package))
    with_volume = recorder_cluster(1, storage=True)
    without = recorder_cluster(1)
    without["metadata"]["name"] = "plain"
    apply(control_plane, namespace, with_volume)
    apply(control_plane, namespace, without)
    stored = {name: wait_ready(control_plane, namespace, name) for name in ("rec", "plain")}
    pods = {name: members(c)[0]["pod"] for name, c in stored.items()}
    uids = {}
    for name, pod in pods.items():
        uids[name] = json.loads(
            control_plane.kubectl("get", "pod", pod, "-n", namespace, "-o", "json").stdout
        )["metadata"]["uid"]
        control_plane.kubectl("delete", "pod", pod, "-n", namespace, "--wait=false")

    def recreated(name: str) -> bool:
        result = control_plane.kubectl(
            "get", "pod", pods[name], "-n", namespace, "-o", "json", check=False
        )
        return result.returncode == 0 and json.loads(result.stdout)["metadata"]["uid"] != uids[name]

    for name in pods:
        wait_until(f"{pods[name]} recreated", lambda name=name: recreated(name))  # type: ignore[misc]
    for name in pods:
        wait_until(
            f"{name} Ready again",
            lambda name=name: (
                cluster_ready(get_cluster(control_plane, namespace, name))
                and members(get_cluster(control_plane, namespace, name))[0].get("containerId")
                not in (None,)
            ),
        )  # type: ignore[misc]
    time.sleep(3)
    # The recreated pod starts with a fresh root; only the one without a volume is set up again.
    assert recorded_calls(control_plane.pod_dir(namespace, pods["plain"])) == ["--configure"]
    assert recorded_calls(control_plane.pod_dir(namespace, pods["rec"])) == []
    assert cluster_ready(get_cluster(control_plane, namespace, "rec"))


#: What the operator writes; nothing else in the control plane writes these while idle
#: (node heartbeats and leader-election leases are other resources).
OPERATOR_RESOURCES = (
    "kubedirectorclusters|statefulsets|services|persistentvolumeclaims|pods|events|configmaps"
)


def operator_writes(control_plane: ControlPlane) -> int:
    """Writes (and execs) served so far for the kinds the operator writes.

    Read from the API server's ``apiserver_request_total``.
    """
    text = control_plane.kubectl("get", "--raw", "/metrics").stdout
    resource = re.compile(rf'resource="({OPERATOR_RESOURCES})"')
    verb = re.compile(r'verb="(POST|PUT|PATCH|DELETE|APPLY|CONNECT)"')
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("apiserver_request_total{")
        and resource.search(line)
        and verb.search(line)
    )


def test_a_converged_cluster_causes_no_writes_and_deletion_removes_every_child(
    control_plane: ControlPlane, namespace: str, recorder: None, operator: OperatorProcess
) -> None:
    apply(control_plane, namespace, recorder_cluster(2, storage=True))
    wait_ready(control_plane, namespace)
    time.sleep(5)  # let the last status write and its watch events settle
    before = {
        (m["pod"], m.get("state")) for m in members(get_cluster(control_plane, namespace, "rec"))
    }
    start = operator_writes(control_plane)
    time.sleep(60)
    assert operator_writes(control_plane) == start
    after = {
        (m["pod"], m.get("state")) for m in members(get_cluster(control_plane, namespace, "rec"))
    }
    assert after == before

    assert objects(control_plane, namespace).keys() >= {
        "StatefulSet",
        "Service",
        "Pod",
        "PersistentVolumeClaim",
    }
    control_plane.kubectl("delete", "kubedirectorcluster", "rec", "-n", namespace, "--wait=false")
    wait_until(
        "every child gone and the cluster removed",
        lambda: (
            not objects(control_plane, namespace)
            and control_plane.kubectl(
                "get", "kubedirectorcluster", "rec", "-n", namespace, check=False
            ).returncode
            != 0
        ),
        timeout=90,
    )
