"""Members on failed KWOK nodes: replaced on a healthy node, waited for, or left alone.

Each test adds its own pool of fake nodes (labelled with the test's namespace),
pins the cluster's role to that pool with one member per node, and deletes
the pool afterwards, so that failing a node disturbs no other test.

A node fails in one of two ways:

* *deleted*: the Node object is removed; the core deletes the member's pod
  forcibly at once;
* *heartbeat*: ``ControlPlane.stop_heartbeat`` cuts the node off as a network
  partition would: KWOK stops renewing its lease, and after the control
  plane's node-monitor grace (12 s for the test session) its Ready condition
  turns Unknown and it is tainted unreachable. The Node stays, and a graceful
  delete of a pod on it never completes (no kubelet answers), as on a real
  partitioned node. The core deletes such a pod forcibly only when the
  node-down policy opts in (``force=True``, the test's *force* plugin) or a
  person confirms the node gone (deletes it, or taints it
  ``node.kubernetes.io/out-of-service``); until then the member waits and the
  status and a ``NodeDownBlocked`` Event say what to do.

A member whose claim is bound to a local volume (a PersistentVolume whose
``nodeAffinity`` names only its node) cannot take its volume along: when its
node is deleted, the claim is deleted with the pod and the member comes back
on another node with a fresh claim, bound to a local volume there, and is set
up afresh (``local_volumes``: static volumes of a no-provisioner class).

Setting a node's Ready condition to False by hand cannot be had under KWOK:
its node-initialize stage resets any node that is not Ready at once.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes import client

from kubedirector_core.api import KubeDirectorCluster
from kubedirector_core.cli import main
from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.plan.model import (
    Manifest,
    ObjectRef,
    Observed,
    ObservedNode,
    ObservedPod,
    PinnedClaim,
)
from kubedirector_core.runtime.connection import load_configuration
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.pinnedclaims import pinned_claims
from kubedirector_core.testing.operator import (
    OperatorProcess,
    PersistedVolumes,
    apply,
    fqdns_in,
    get_cluster,
    grant_operator,
    make_setup_package,
    members,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
    warning_events,
)

pytestmark = pytest.mark.controlplane

POOL_LABEL = "kubedirector.test/pool"
#: The cluster's ``spec.nodeDownGraceSeconds``.
GRACE_SECONDS = 10
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
WAIT_PLUGIN = "kdwait"
FORCE_PLUGIN = "kdforce"
PLUGIN_SOURCES = {
    "wait": f'''
"""A node-down policy that always waits, for the recorder app."""

from kubedirector_core import NodeDownDecision, hookimpl

KD_PLUGIN_NAME = "{WAIT_PLUGIN}"


@hookimpl
def kd_claims():
    return ["recorder"]


@hookimpl
def kd_on_node_down(event):
    return NodeDownDecision.wait(
        f"{WAIT_PLUGIN} keeps {{event.member.name}} where it is", retry_after_seconds=3
    )
''',
    "force": f'''
"""Replace after the grace, forcibly: the recorder's members tolerate a second copy."""

from kubedirector_core import NodeDownDecision, hookimpl

KD_PLUGIN_NAME = "{FORCE_PLUGIN}"


@hookimpl
def kd_claims():
    return ["recorder"]


@hookimpl
def kd_on_node_down(event):
    if event.down_for_seconds < event.grace_seconds:
        return None
    return NodeDownDecision.replace_member(
        f"{FORCE_PLUGIN}: a second copy of {{event.member.name}} is harmless", force=True
    )
''',
}


@pytest.fixture
def operator_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """With ``indirect`` parameter ``"wait"`` or ``"force"``: load that policy plugin."""
    kind = getattr(request, "param", None)
    if kind is None:
        return {}
    folder = tmp_path / "plugins"
    folder.mkdir()
    module = f"kd_throwaway_{kind}_policy"
    (folder / f"{module}.py").write_text(textwrap.dedent(PLUGIN_SOURCES[kind]))
    return {"KD_EXTRA_PLUGINS": module, "PYTHONPATH": str(folder)}


@pytest.fixture
def pool(control_plane: ControlPlane, namespace: str) -> Iterator[list[str]]:
    """Three fake nodes of this test's own, deleted afterwards.

    Tests request it before ``operator``, so that the operator removes the
    test's cluster while the nodes are still there.
    """
    names = [f"{namespace}-n{i}" for i in range(3)]
    for name in names:
        control_plane.add_node(NodeSpec(name=name, labels={POOL_LABEL: namespace}), wait=False)
    control_plane.wait_nodes_ready(names)
    try:
        yield names
    finally:
        control_plane.kubectl("delete", "node", *names, "--wait=false", check=False)


def pooled_cluster(namespace: str, members_count: int) -> dict[str, Any]:
    """The recorder cluster with volumes, on the test's pool, one member per node."""
    cluster = recorder_cluster(members_count, storage=True)
    cluster["spec"]["nodeDownGraceSeconds"] = GRACE_SECONDS
    cluster["spec"]["roles"][0]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": POOL_LABEL, "operator": "In", "values": [namespace]}
                        ]
                    }
                ]
            }
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"kubedirector.hpe.com/kdcluster": "rec"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        },
    }
    return cluster


def pod_info(control_plane: ControlPlane, namespace: str, pod: str) -> dict[str, Any] | None:
    """uid, node, readiness and claims of a pod, or None when it does not exist."""
    result = control_plane.kubectl("get", "pod", pod, "-n", namespace, "-o", "json", check=False)
    if result.returncode:
        return None
    body = json.loads(result.stdout)
    return {
        "uid": body["metadata"]["uid"],
        "node": body["spec"].get("nodeName"),
        "deleting": "deletionTimestamp" in body["metadata"],
        "ready": any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in body["status"].get("conditions") or []
        ),
        "claims": sorted(
            v["persistentVolumeClaim"]["claimName"]
            for v in body["spec"].get("volumes") or []
            if "persistentVolumeClaim" in v
        ),
    }


def volumes_of(control_plane: ControlPlane, namespace: str) -> dict[str, tuple[str, str, str]]:
    """Each claim's uid, phase and bound volume."""
    items = json.loads(control_plane.kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout)[
        "items"
    ]
    return {
        i["metadata"]["name"]: (
            i["metadata"]["uid"],
            i["status"].get("phase", ""),
            i["spec"].get("volumeName", ""),
        )
        for i in items
    }


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its content."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def fqdn_of(control_plane: ControlPlane, namespace: str, reader: str, pod: str) -> str:
    configmeta = json.loads(
        (control_plane.pod_dir(namespace, reader) / "etc/guestconfig/configmeta.json").read_text()
    )
    fqdns = configmeta["nodegroups"]["1"]["roles"]["worker"]["fqdns"]
    return str(next(f for f in fqdns if f.startswith(f"{pod}.")))


def node_down_records(control_plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return list(get_cluster(control_plane, namespace, "rec")["status"].get("nodeDown") or [])


def record_of(control_plane: ControlPlane, namespace: str, member: str) -> dict[str, Any]:
    """The member's node-down record, or an empty dict."""
    records = node_down_records(control_plane, namespace)
    return next((r for r in records if r["member"] == member), {})


def start_cluster(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, size: int
) -> tuple[list[str], dict[str, dict[str, Any]], dict[str, tuple[str, str, str]]]:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, pooled_cluster(namespace, size))
    cluster = wait_ready(control_plane, namespace)
    pods = [m["pod"] for m in members(cluster)]
    info = {pod: pod_info(control_plane, namespace, pod) or {} for pod in pods}
    assert len({i["node"] for i in info.values()}) == size  # one member per pool node
    return pods, info, volumes_of(control_plane, namespace)


def fail_node(control_plane: ControlPlane, how: str, node: str) -> float:
    """Fail ``node`` (delete it, or stop its heartbeat); return when it was seen failed."""
    if how == "deleted":
        control_plane.kubectl("delete", "node", node, "--wait=false")
        return time.monotonic()
    control_plane.stop_heartbeat(node)

    def unknown() -> bool:
        body = json.loads(control_plane.kubectl("get", "node", node, "-o", "json").stdout)
        conditions = body["status"].get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "Unknown" for c in conditions)

    wait_until(
        f"node {node} Ready=Unknown after its heartbeat stopped",
        unknown,
        timeout=control_plane.node_monitor_grace_seconds + 60,
    )
    return time.monotonic()


def replaced(
    control_plane: ControlPlane, namespace: str, pod: str, old: dict[str, Any]
) -> dict[str, Any] | None:
    now = pod_info(control_plane, namespace, pod)
    if now is None or now["uid"] == old["uid"] or not now["ready"]:
        return None
    return now


def told_about(
    control_plane: ControlPlane, namespace: str, reader: str, fqdn: str, since: int
) -> list[str]:
    """``reader``'s recorded ``--addnodes`` calls naming ``fqdn``, after the first ``since``."""
    calls = recorded_calls(control_plane.pod_dir(namespace, reader))[since:]
    return [c for c in calls if c.startswith("--addnodes") and fqdn in fqdns_in(c)]


@pytest.mark.parametrize(
    ("how", "operator_env"), [("deleted", None), ("heartbeat", "force")], indirect=["operator_env"]
)
def test_replace_policy_brings_the_member_back_on_a_healthy_node(
    control_plane: ControlPlane,
    namespace: str,
    pool: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
    how: str,
) -> None:
    pods, before, volumes = start_cluster(control_plane, namespace, tmp_path, 2)
    victim, healthy = pods
    bad_node = before[victim]["node"]
    victim_fqdn = fqdn_of(control_plane, namespace, healthy, victim)
    calls_before = len(recorded_calls(control_plane.pod_dir(namespace, healthy)))
    for pod in pods:
        data = control_plane.pod_dir(namespace, pod) / "data"
        data.mkdir(exist_ok=True)
        (data / "owner.txt").write_text(f"{pod}'s data\n")
    healthy_data = control_plane.pod_dir(namespace, healthy) / "data"
    healthy_volume = tree_digest(healthy_data)

    with PersistedVolumes(control_plane.pods_dir / namespace, {victim: ["/etc", "/data"]}):
        failed_at = fail_node(control_plane, how, bad_node)
        back = wait_until(
            f"{victim} recreated on a healthy node",
            lambda: replaced(control_plane, namespace, victim, before[victim]),
            timeout=GRACE_SECONDS + 90,
        )
        replaced_after = time.monotonic() - failed_at
        cluster = wait_ready(control_plane, namespace, timeout=90)
        ready_after = time.monotonic() - failed_at
    print(
        f"\n{how}: member replaced {replaced_after:.1f}s after its node was seen failed "
        f"(grace {GRACE_SECONDS}s), cluster Ready again after {ready_after:.1f}s"
    )
    assert isinstance(back, dict)
    assert back["node"] != bad_node
    assert back["node"] in pool
    # A deleted node is not waited for; an unreachable one only for the grace.
    assert replaced_after <= (15 if how == "deleted" else GRACE_SECONDS + 45)

    # The healthy member was left alone (same pod, same volume content) and told of the return.
    assert (pod_info(control_plane, namespace, healthy) or {}).get("uid") == before[healthy]["uid"]
    assert tree_digest(healthy_data) == healthy_volume
    # The replacement uses the same claim, still bound to the same volume.
    assert back["claims"] == before[victim]["claims"]
    assert back["claims"]
    assert volumes_of(control_plane, namespace) == volumes
    assert all(phase == "Bound" for _, phase, _ in volumes.values())
    victim_data = control_plane.pod_dir(namespace, victim) / "data" / "owner.txt"
    assert victim_data.read_text() == f"{victim}'s data\n"

    wait_until(
        f"{healthy} notified with --addnodes {victim_fqdn}",
        lambda: told_about(control_plane, namespace, healthy, victim_fqdn, calls_before),
        timeout=30,
    )
    assert [m["state"] for m in members(cluster)] == ["configured", "configured"]

    record = record_of(control_plane, namespace, victim)
    assert record["decision"] == "replace-member"
    assert record["node"] == bad_node
    assert record["phase"] == "done"
    assert "waitingFor" not in record
    if how == "deleted":
        assert (record["plugin"], record["problem"]) == ("core", "gone")
    else:
        assert (record["plugin"], record["problem"], record["force"]) == (
            FORCE_PLUGIN,
            "unreachable",
            True,
        )
        # The old pod was deleted forcibly although its node is still there.
        assert control_plane.kubectl("get", "node", bad_node, check=False).returncode == 0

    # `kubedirector status` shows where each member runs now and the node-down decision.
    shown = CliRunner().invoke(
        main, ["status", "rec", "-n", namespace, "--kubeconfig", str(control_plane.kubeconfig)]
    )
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.output.splitlines() if line.startswith("worker ")]
    assert [victim, back["node"], "configured"] in [row[2:5] for row in rows]
    plugin, forced = record["plugin"], " (forced)" if record.get("force") else ""
    decision = f"on node {bad_node}: {record['problem']}; replace-member{forced} by {plugin}"
    assert decision in shown.output


def wait_blocked(control_plane: ControlPlane, namespace: str, victim: str) -> dict[str, Any]:
    """Wait until the victim's replacement waits for its node to be confirmed gone."""

    def blocked() -> dict[str, Any]:
        record = record_of(control_plane, namespace, victim)
        return record if record.get("waitingFor") else {}

    record = wait_until(
        f"{victim}'s replacement waiting for its node", blocked, timeout=GRACE_SECONDS + 60
    )
    assert isinstance(record, dict)
    return record


def assert_told_what_to_do(
    control_plane: ControlPlane, namespace: str, victim: str, record: dict[str, Any]
) -> None:
    """The record and a Warning Event say to delete the Node or taint it out-of-service."""
    assert (record["decision"], record["plugin"], record["phase"]) == (
        "replace-member",
        "core",
        "replacing",
    )
    assert "force" not in record
    advice = "delete the Node, or taint it node.kubernetes.io/out-of-service"
    assert advice in record["waitingFor"]
    events = wait_until(
        "a NodeDownBlocked Event",
        lambda: [
            e
            for e in warning_events(control_plane, namespace, "rec")
            if e["reason"] == "NodeDownBlocked"
        ],
        timeout=30,
    )
    assert isinstance(events, list)
    assert any(victim in e["message"] and advice in e["message"] for e in events)


def test_default_policy_waits_for_an_unreachable_node_to_be_confirmed_gone(
    control_plane: ControlPlane,
    namespace: str,
    pool: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    pods, before, volumes = start_cluster(control_plane, namespace, tmp_path, 2)
    victim = pods[0]
    bad_node = before[victim]["node"]
    fail_node(control_plane, "heartbeat", bad_node)
    record = wait_blocked(control_plane, namespace, victim)
    assert_told_what_to_do(control_plane, namespace, victim, record)
    # Deleted gracefully, which cannot finish: the old pod is still there, Terminating.
    stuck = pod_info(control_plane, namespace, victim)
    assert stuck is not None
    assert (stuck["uid"], stuck["deleting"]) == (before[victim]["uid"], True)

    confirmed_at = time.monotonic()
    control_plane.kubectl("delete", "node", bad_node, "--wait=false")
    back = wait_until(
        f"{victim} recreated once its node is gone",
        lambda: replaced(control_plane, namespace, victim, before[victim]),
        timeout=90,
    )
    print(f"\nreplaced {time.monotonic() - confirmed_at:.1f}s after the node was deleted")
    assert isinstance(back, dict)
    assert back["node"] in pool
    assert back["node"] != bad_node
    wait_ready(control_plane, namespace, timeout=90)
    record = record_of(control_plane, namespace, victim)
    assert (record["phase"], record["podUID"]) == ("done", before[victim]["uid"])
    assert "waitingFor" not in record
    assert volumes_of(control_plane, namespace) == volumes


def test_operator_restart_in_the_middle_of_a_replacement_converges(
    control_plane: ControlPlane,
    namespace: str,
    pool: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    pods, before, volumes = start_cluster(control_plane, namespace, tmp_path, 2)
    victim, healthy = pods
    bad_node = before[victim]["node"]
    victim_fqdn = fqdn_of(control_plane, namespace, healthy, victim)
    calls_before = len(recorded_calls(control_plane.pod_dir(namespace, healthy)))
    fail_node(control_plane, "heartbeat", bad_node)
    wait_blocked(control_plane, namespace, victim)
    # The deletion was issued (the pod is Terminating), the replacement is not there yet.
    assert (pod_info(control_plane, namespace, victim) or {}).get("deleting") is True
    operator.kill()

    # While no operator runs, a person confirms the node is shut down; Kubernetes' pod
    # garbage collector then deletes the stuck pod and the StatefulSet re-creates it.
    control_plane.kubectl("taint", "node", bad_node, OUT_OF_SERVICE)

    def recreated() -> dict[str, Any] | None:
        now = pod_info(control_plane, namespace, victim)
        return now if now is not None and now["uid"] != before[victim]["uid"] else None

    replacement = wait_until(f"{victim} re-created while the operator is down", recreated, 90)
    assert isinstance(replacement, dict)
    operator.start()

    cluster = wait_ready(control_plane, namespace, timeout=120)
    now = pod_info(control_plane, namespace, victim)
    assert now is not None
    assert now["uid"] == replacement["uid"]  # the replacement was never deleted
    assert now["node"] != bad_node
    configured = [
        c
        for c in recorded_calls(control_plane.pod_dir(namespace, victim))
        if c.startswith("--configure")
    ]
    assert len(configured) == 1  # set up exactly once on the replacement
    assert [m["state"] for m in members(cluster)] == ["configured", "configured"]
    wait_until(
        f"{healthy} notified with --addnodes {victim_fqdn}",
        lambda: told_about(control_plane, namespace, healthy, victim_fqdn, calls_before),
        timeout=30,
    )
    assert len(told_about(control_plane, namespace, healthy, victim_fqdn, calls_before)) == 1
    record = record_of(control_plane, namespace, victim)
    assert (record["phase"], record["podUID"]) == ("done", before[victim]["uid"])
    assert record["replacedUIDs"] == [before[victim]["uid"]]
    assert volumes_of(control_plane, namespace) == volumes


@pytest.mark.parametrize("how", ["deleted", "heartbeat"])
@pytest.mark.parametrize("operator_env", ["wait"], indirect=True)
def test_wait_policy_replaces_nothing(
    control_plane: ControlPlane,
    namespace: str,
    pool: list[str],
    operator: OperatorProcess,
    tmp_path: Path,
    how: str,
) -> None:
    pods, before, volumes = start_cluster(control_plane, namespace, tmp_path, 2)
    failed = pods[0]

    def decided(count: int) -> list[dict[str, Any]]:
        records = node_down_records(control_plane, namespace)
        waiting = [r for r in records if r.get("decision") == "wait"]
        return waiting if len(waiting) == count else []

    # Kubernetes' own pod GC removes pods of a deleted node after 40 s: the test stays below.
    fail_node(control_plane, how, before[failed]["node"])
    wait_until("the member's node-down decided: wait", lambda: decided(1))
    for record in decided(1):
        assert record["plugin"] == WAIT_PLUGIN
        assert record["phase"] == "waiting"
    time.sleep(GRACE_SECONDS + 10)  # past the cluster's grace: the policy, not the grace, holds
    for pod in pods:
        now = pod_info(control_plane, namespace, pod)
        assert now is not None
        assert now["uid"] == before[pod]["uid"]
        assert not now["deleting"]
    assert volumes_of(control_plane, namespace) == volumes
    records = node_down_records(control_plane, namespace)
    problem = "gone" if how == "deleted" else "unreachable"
    assert {r["member"]: r["problem"] for r in records} == {failed: problem}
    assert all(r["decision"] == "wait" for r in records)

    if how == "deleted":
        # Let the cluster be removed without waiting 40 s for the pod GC.
        control_plane.kubectl(
            "delete", "pod", failed, "-n", namespace, "--force", "--grace-period=0"
        )
        return
    # The node comes back: the member, never replaced, is Ready there again.
    control_plane.resume_heartbeat(before[failed]["node"])
    cluster = wait_ready(control_plane, namespace, timeout=90)
    now = pod_info(control_plane, namespace, failed)
    assert now is not None
    assert (now["uid"], now["node"], now["ready"]) == (
        before[failed]["uid"],
        before[failed]["node"],
        True,
    )
    wait_until(
        "the node-down record dropped", lambda: not node_down_records(control_plane, namespace)
    )
    assert [m["state"] for m in members(cluster)] == ["configured", "configured"]


#: Static local volumes the ``local_volumes`` fixture makes on each pool node.
LOCAL_VOLUMES_PER_NODE = 2


@pytest.fixture
def local_volumes(control_plane: ControlPlane, namespace: str, pool: list[str]) -> Iterator[str]:
    """A no-provisioner StorageClass of this test's own and local volumes pinned to each node.

    Returns the class's name. Like ``pool``, request it before ``operator``.
    """
    storage_class = f"{namespace}-local"
    apply(
        control_plane,
        namespace,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": storage_class},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        },
    )
    volumes = []
    for node in pool:
        for index in range(LOCAL_VOLUMES_PER_NODE):
            name = f"{node}-v{index}"
            volumes.append(name)
            apply(control_plane, namespace, local_volume(name, node, storage_class))
    try:
        yield storage_class
    finally:
        control_plane.kubectl("delete", "pv", *volumes, "--wait=false", check=False)
        control_plane.kubectl("delete", "storageclass", storage_class, "--wait=false", check=False)


def local_volume(name: str, node: str, storage_class: str) -> dict[str, Any]:
    """A static local PersistentVolume usable only on ``node``."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": storage_class,
            "local": {"path": f"/mnt/disks/{name}"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }


def volume_phase(control_plane: ControlPlane, volume: str) -> str:
    result = control_plane.kubectl("get", "pv", volume, "-o", "jsonpath={.status.phase}")
    return result.stdout.strip()


def test_a_member_whose_local_volume_cannot_follow_gets_a_fresh_one(
    control_plane: ControlPlane,
    namespace: str,
    pool: list[str],
    local_volumes: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    cluster_document = pooled_cluster(namespace, 2)
    cluster_document["spec"]["roles"][0]["storage"]["storageClassName"] = local_volumes
    apply(control_plane, namespace, cluster_document)
    cluster = wait_ready(control_plane, namespace, timeout=120)
    victim, healthy = [m["pod"] for m in members(cluster)]
    before = {pod: pod_info(control_plane, namespace, pod) or {} for pod in (victim, healthy)}
    bad_node = before[victim]["node"]
    volumes = volumes_of(control_plane, namespace)
    [victim_claim] = before[victim]["claims"]
    [healthy_claim] = before[healthy]["claims"]
    old_uid, _, old_volume = volumes[victim_claim]
    assert old_volume.startswith(f"{bad_node}-v")  # bound to a local volume of its node
    for pod in (victim, healthy):
        data = control_plane.pod_dir(namespace, pod) / "data"
        data.mkdir(exist_ok=True)
        (data / "owner.txt").write_text(f"{pod}'s data\n")
    healthy_volume = tree_digest(control_plane.pod_dir(namespace, healthy) / "data")
    victim_fqdn = fqdn_of(control_plane, namespace, healthy, victim)
    calls_before = len(recorded_calls(control_plane.pod_dir(namespace, healthy)))

    fail_node(control_plane, "deleted", bad_node)
    back = wait_until(
        f"{victim} recreated on a healthy node with a fresh volume",
        lambda: replaced(control_plane, namespace, victim, before[victim]),
        timeout=120,
    )
    assert isinstance(back, dict)
    cluster = wait_ready(control_plane, namespace, timeout=120)
    assert back["node"] in pool
    assert back["node"] != bad_node

    # A new claim, bound to a local volume of the node the member now runs on.
    now = volumes_of(control_plane, namespace)
    assert back["claims"] == [victim_claim]
    new_uid, phase, new_volume = now[victim_claim]
    assert new_uid != old_uid
    assert phase == "Bound"
    assert new_volume.startswith(f"{back['node']}-v")
    assert volume_phase(control_plane, old_volume) == "Released"  # kept, for a person
    # The other member, its claim and its volume were left alone.
    assert now[healthy_claim] == volumes[healthy_claim]
    assert (pod_info(control_plane, namespace, healthy) or {}).get("uid") == before[healthy]["uid"]
    assert tree_digest(control_plane.pod_dir(namespace, healthy) / "data") == healthy_volume

    # Set up afresh on its empty volume, and announced to the other member.
    victim_dir = control_plane.pod_dir(namespace, victim)
    assert not (victim_dir / "data" / "owner.txt").exists()
    configured = [c for c in recorded_calls(victim_dir) if c.startswith("--configure")]
    assert len(configured) == 1
    assert [m["state"] for m in members(cluster)] == ["configured", "configured"]
    wait_until(
        f"{healthy} notified with --addnodes {victim_fqdn}",
        lambda: told_about(control_plane, namespace, healthy, victim_fqdn, calls_before),
        timeout=60,
    )

    record = record_of(control_plane, namespace, victim)
    assert (record["decision"], record["problem"], record["phase"]) == (
        "replace-member",
        "gone",
        "done",
    )
    assert record["volumeRecreated"] is True
    assert record["recreatedClaims"] == [victim_claim]
    assert f"volume {old_volume}, which only node {bad_node} can reach" in record["volumeReason"]
    assert "volumeRecreated" not in record_of(control_plane, namespace, healthy)
    told = [
        e["message"]
        for e in warning_events(control_plane, namespace, "rec")
        if e["reason"] == "NodeDownVolumeRecreated"
    ]
    assert any(victim_claim in message and victim in message for message in told)


class CountingApi(KubeApi):
    """The real client, remembering each request's method and path."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(client.ApiClient(load_configuration(kubeconfig)))
        self.requests: list[str] = []

    def request(self, method: str, path: str, **options: Any) -> Any:
        self.requests.append(f"{method} {path}")
        return super().request(method, path, **options)


def test_volumes_are_read_only_for_members_on_gone_nodes_and_a_refusal_keeps_the_claim(
    control_plane: ControlPlane, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    gone, healthy = f"{namespace}-gone", f"{namespace}-up"
    volumes = {f"{namespace}-on-gone": gone, f"{namespace}-on-up": healthy}
    for name, node in volumes.items():
        apply(control_plane, namespace, local_volume(name, node, f"{namespace}-local"))
    try:
        pods = {
            f"rec-worker-{i}": ObservedPod(
                name=f"rec-worker-{i}",
                role_id="worker",
                uid=f"pod-{i}",
                node_name=node,
                phase="Running",
                ready=True,
                container_id=f"c{i}",
                ip=None,
            )
            for i, node in enumerate((gone, healthy))
        }
        children: dict[ObjectRef, Manifest] = {
            ObjectRef("apps/v1", "StatefulSet", "rec-worker", namespace): {
                "spec": {"volumeClaimTemplates": [{"metadata": {"name": "p"}}]}
            },
            **{
                ObjectRef("v1", "PersistentVolumeClaim", f"p-rec-worker-{i}", namespace): {
                    "metadata": {"uid": f"claim-{i}"},
                    "spec": {"volumeName": volume},
                }
                for i, volume in enumerate(volumes)
            },
        }
        cluster = recorder_cluster(2, storage=True)
        cluster["metadata"]["namespace"] = namespace
        observed = Observed(
            cluster=KubeDirectorCluster.from_wire(cluster),
            app=None,
            now=datetime.now(UTC),
            pods=pods,
            nodes={healthy: ObservedNode(name=healthy, ready=True, unreachable=False)},
            nodes_known=True,
        )
        allowed = CountingApi(grant_operator(control_plane))
        on_gone = f"{namespace}-on-gone"
        assert pinned_claims(allowed, namespace, observed, children) == {
            "p-rec-worker-0": PinnedClaim(
                pod="rec-worker-0", uid="claim-0", volume=on_gone, node=gone
            )
        }
        # One GET, of the volume of the member on the gone node only.
        assert allowed.requests == [f"GET /api/v1/persistentvolumes/{on_gone}"]

        # An account that may not read volumes keeps every claim, and says why.
        refused = CountingApi(control_plane.kubeconfig_for(f"{namespace}-no-volumes"))
        assert pinned_claims(refused, namespace, observed, children) == {}
        [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert f"keeping claim {namespace}/p-rec-worker-0" in warning
        assert "403" in warning
        assert "grant get on persistentvolumes" in warning
    finally:
        control_plane.kubectl("delete", "pv", *volumes, "--wait=false", check=False)
