"""Members on failed KWOK nodes: replaced on a healthy node, or left alone by a wait policy.

Each test adds its own pool of fake nodes (labelled with the test's namespace),
pins the cluster's role to that pool with one member per node, and deletes
the pool afterwards, so that failing a node disturbs no other test.

Replacement is shown for a deleted node. A node made NotReady by setting its
condition cannot be had under KWOK (its node-initialize stage resets any
non-Ready node at once), and a node whose heartbeat stopped (KWOK's annotation
removed) turns Unknown after the node-monitor grace, but a graceful delete of
a pod on it never completes, as on a real partitioned node: the core deletes
forcibly only once the node is gone. The wait policy is shown on a deleted node.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubedirector_core.cli import main
from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.testing.operator import (
    OperatorProcess,
    PersistedVolumes,
    apply,
    fqdns_in,
    get_cluster,
    make_setup_package,
    members,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane

POOL_LABEL = "kubedirector.test/pool"
GRACE_SECONDS = 10
WAIT_PLUGIN = "kdwait"
WAIT_PLUGIN_SOURCE = f'''
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
'''


@pytest.fixture
def operator_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """With ``indirect`` parameter ``"wait"``: load the always-wait policy plugin."""
    if getattr(request, "param", None) != "wait":
        return {}
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "kd_throwaway_wait_policy.py").write_text(textwrap.dedent(WAIT_PLUGIN_SOURCE))
    return {"KD_EXTRA_PLUGINS": "kd_throwaway_wait_policy", "PYTHONPATH": str(folder)}


@pytest.fixture
def pool(control_plane: ControlPlane, namespace: str) -> Iterator[list[str]]:
    """Three fake nodes of this test's own, deleted afterwards."""
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
    """uid, node and readiness of a pod, or None when it does not exist."""
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
    }


def pvc_uids(control_plane: ControlPlane, namespace: str) -> dict[str, str]:
    items = json.loads(control_plane.kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout)[
        "items"
    ]
    return {i["metadata"]["name"]: i["metadata"]["uid"] for i in items}


def fqdn_of(control_plane: ControlPlane, namespace: str, reader: str, pod: str) -> str:
    configmeta = json.loads(
        (control_plane.pod_dir(namespace, reader) / "etc/guestconfig/configmeta.json").read_text()
    )
    fqdns = configmeta["nodegroups"]["1"]["roles"]["worker"]["fqdns"]
    return str(next(f for f in fqdns if f.startswith(f"{pod}.")))


def node_down_records(control_plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return list(get_cluster(control_plane, namespace, "rec")["status"].get("nodeDown") or [])


def start_cluster(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, size: int
) -> tuple[list[str], dict[str, dict[str, Any]], dict[str, str]]:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, pooled_cluster(namespace, size))
    cluster = wait_ready(control_plane, namespace)
    pods = [m["pod"] for m in members(cluster)]
    info = {pod: pod_info(control_plane, namespace, pod) or {} for pod in pods}
    assert len({i["node"] for i in info.values()}) == size  # one member per pool node
    return pods, info, pvc_uids(control_plane, namespace)


def replaced(
    control_plane: ControlPlane, namespace: str, pod: str, old: dict[str, Any]
) -> dict[str, Any] | None:
    now = pod_info(control_plane, namespace, pod)
    if now is None or now["uid"] == old["uid"] or not now["ready"]:
        return None
    return now


@pytest.mark.parametrize("how", ["deleted"])
def test_replace_policy_brings_the_member_back_on_a_healthy_node(
    control_plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    pool: list[str],
    tmp_path: Path,
    how: str,
) -> None:
    pods, before, volumes = start_cluster(control_plane, namespace, tmp_path, 2)
    victim, healthy = pods
    bad_node = before[victim]["node"]
    victim_fqdn = fqdn_of(control_plane, namespace, healthy, victim)
    calls_before = recorded_calls(control_plane.pod_dir(namespace, healthy))

    with PersistedVolumes(control_plane.pods_dir / namespace, {victim: ["/etc", "/data"]}):
        failed_at = time.monotonic()
        control_plane.kubectl("delete", "node", bad_node, "--wait=false")
        back = wait_until(
            f"{victim} recreated on a healthy node",
            lambda: replaced(control_plane, namespace, victim, before[victim]),
            timeout=GRACE_SECONDS + 60,
        )
        replaced_after = time.monotonic() - failed_at
        cluster = wait_ready(control_plane, namespace, timeout=60)
        ready_after = time.monotonic() - failed_at
    print(
        f"\n{how}: member replaced {replaced_after:.1f}s after its node failed "
        f"(grace {GRACE_SECONDS}s), cluster Ready again after {ready_after:.1f}s"
    )
    assert isinstance(back, dict)
    assert back["node"] != bad_node
    assert back["node"] in pool
    assert replaced_after <= 15  # a deleted node is not waited for

    # The healthy member was left alone (same pod, same volume) and told about the return.
    assert (pod_info(control_plane, namespace, healthy) or {}).get("uid") == before[healthy]["uid"]
    assert pvc_uids(control_plane, namespace) == volumes  # no volume recreated or removed

    def notified() -> list[str]:
        calls = recorded_calls(control_plane.pod_dir(namespace, healthy))[len(calls_before) :]
        return [c for c in calls if c.startswith("--addnodes") and victim_fqdn in fqdns_in(c)]

    wait_until(f"{healthy} notified with --addnodes {victim_fqdn}", notified, timeout=30)
    assert [m["state"] for m in members(cluster)] == ["configured", "configured"]

    [record] = [r for r in node_down_records(control_plane, namespace) if r["member"] == victim]
    assert record["decision"] == "replace-member"
    assert record["plugin"] == "core"
    assert record["node"] == bad_node
    assert record["problem"] == "gone"
    assert record["phase"] == "done"

    # `kubedirector status` shows where each member runs now and the node-down decision.
    shown = CliRunner().invoke(
        main, ["status", "rec", "-n", namespace, "--kubeconfig", str(control_plane.kubeconfig)]
    )
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.output.splitlines() if line.startswith("worker ")]
    assert [victim, back["node"], "configured"] in [row[2:5] for row in rows]
    assert f"on node {bad_node}: {record['problem']}; replace-member by core" in shown.output


@pytest.mark.parametrize("operator_env", ["wait"], indirect=True)
def test_wait_policy_replaces_nothing(
    control_plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    pool: list[str],
    tmp_path: Path,
) -> None:
    pods, before, volumes = start_cluster(control_plane, namespace, tmp_path, 2)
    deleted = pods[0]

    def decided(count: int) -> list[dict[str, Any]]:
        records = node_down_records(control_plane, namespace)
        waiting = [r for r in records if r.get("decision") == "wait"]
        return waiting if len(waiting) == count else []

    # Kubernetes' own pod GC removes pods of a deleted node after 40 s: the test stays below.
    control_plane.kubectl("delete", "node", before[deleted]["node"], "--wait=false")
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
    assert pvc_uids(control_plane, namespace) == volumes
    records = node_down_records(control_plane, namespace)
    assert {r["member"]: r["problem"] for r in records} == {deleted: "gone"}
    assert all(r["decision"] == "wait" for r in records)
