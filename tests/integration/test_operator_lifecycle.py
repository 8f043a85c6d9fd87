"""The operator takes a cluster through its life: setup, resize, pod loss, quiet, deletion."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    PersistedVolumes,
    apply,
    count_operator_writes,
    fqdns_in,
    get_cluster,
    make_setup_package,
    members,
    operator_writes,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane


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
    pods = {name: members(cluster)[0]["pod"] for name, cluster in stored.items()}
    for pod in pods.values():
        assert recorded_calls(control_plane.pod_dir(namespace, pod)) == ["--configure"]
    uids = {name: pod_uid(control_plane, namespace, pod) for name, pod in pods.items()}

    # /etc and the app's /data live on rec's volume (the init container copies them there).
    volumes = PersistedVolumes(control_plane.pods_dir / namespace, {pods["rec"]: ["/etc", "/data"]})
    with volumes:
        for pod in pods.values():
            control_plane.kubectl("delete", "pod", pod, "-n", namespace, "--wait=false")
        for name, pod in pods.items():
            wait_until(
                f"{pod} recreated",
                lambda name=name, pod=pod: (
                    pod_uid(control_plane, namespace, pod)  # type: ignore[misc]
                    not in (None, uids[name])
                ),
            )
        for name in pods:
            wait_ready(control_plane, namespace, name)
    # A recreated pod starts with a fresh root: only the member without a volume runs setup again.
    assert recorded_calls(control_plane.pod_dir(namespace, pods["plain"])) == ["--configure"]
    assert recorded_calls(control_plane.pod_dir(namespace, pods["rec"])) == []
    for name in pods:
        member = members(get_cluster(control_plane, namespace, name))[0]
        assert member["state"] == "configured"


def pod_uid(control_plane: ControlPlane, namespace: str, pod: str) -> str | None:
    result = control_plane.kubectl("get", "pod", pod, "-n", namespace, "-o", "json", check=False)
    if result.returncode:
        return None
    body = json.loads(result.stdout)
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in body["status"].get("conditions") or []
    )
    return str(body["metadata"]["uid"]) if ready else None


def test_a_converged_cluster_causes_no_writes_and_deletion_removes_every_child(
    control_plane: ControlPlane, namespace: str, recorder: None, operator: OperatorProcess
) -> None:
    count_operator_writes(control_plane)
    apply(control_plane, namespace, recorder_cluster(2, storage=True))
    wait_ready(control_plane, namespace)
    assert operator_writes(control_plane) > 0  # the counter sees the operator's writes
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
