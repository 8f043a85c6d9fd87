"""kd-hadoop with the operator on the real control plane: DataNodes leave only once decommissioned.

What runs is what a user deploys: the catalog's ``hadoop3`` app, unchanged, whose
setup package (``python -m kd_hadoop.package``) holds the real startscript and
helper; the installed plugin, found by the operator through its entry point. The
only stand-ins are what a Hadoop image would hold: KWOK runs no images, so
:class:`~kubedirector_core.testing.operator.GuestFiles` copies the setup package to
``/opt/kd-hadoop/kd-hadoop-setup.tgz`` (the app's ``packageURL``) and fake ``hdfs``
and ``yarn`` tools to ``/opt/hadoop/bin`` (see ``fake_hadoop``) into every pod's
directory, where the image would have them; the startscript and helper put
``$HADOOP_HOME/bin`` on the PATH themselves. A variant setup package or an exec
environment would have changed what the test proves; this changes only the image.

Each tool call is stamped with the time, so calls in different members'
directories and the StatefulSet's size (watched by the test) fall into one order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fake_hadoop
import hadoop_builders as build
import pytest
from kd_hadoop.package import setup_package

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    GuestFiles,
    OperatorProcess,
    apply,
    condition,
    event_messages,
    get_cluster,
    member_dirs,
    timeline,
    wait_ready,
    wait_until,
    warning_events,
)

pytestmark = pytest.mark.controlplane

CLUSTER = "hdfs"
#: The app's packageURL, read from the member's own filesystem.
PACKAGE_PATH = "/opt/kd-hadoop/kd-hadoop-setup.tgz"


def hdfs_cluster(datanodes: int) -> dict[str, Any]:
    """The catalog's hadoop3 app with ``datanodes`` DataNodes (no NodeManagers), replication 2."""
    small = {"cpu": "1", "memory": "1Gi"}
    document = build.cluster_wire()
    document["metadata"] = {"name": CLUSTER, "annotations": {"kd-hadoop/dfs.replication": "2"}}
    document["spec"]["roles"] = [
        {"id": "namenode", "members": 1, "resources": {"limits": {**small, "memory": "2Gi"}}},
        {"id": "datanode", "members": datanodes, "resources": {"limits": small}},
        {
            "id": "resourcemanager",
            "members": 1,
            "resources": {"limits": {**small, "memory": "2Gi"}},
        },
    ]
    return document


class ReplicaHistory:
    """The ``spec.replicas`` of one StatefulSet over time, read every 0.2 s by a thread."""

    def __init__(self, control_plane: ControlPlane, namespace: str, name: str) -> None:
        from kubernetes import client

        self._apps = client.AppsV1Api(control_plane.api_client())
        self._namespace, self._name = namespace, name
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()

    def _sample(self) -> None:
        found = self._apps.read_namespaced_stateful_set(self._name, self._namespace)
        replicas = int(found.spec.replicas)
        if not self.samples or self.samples[-1][1] != replicas:
            self.samples.append((time.time(), replicas))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.2)

    @contextmanager
    def watching(self) -> Iterator[ReplicaHistory]:
        """Record while inside the ``with``, and once more as it ends.

        The last reading is taken after the ``with``'s body: a change made
        less than one polling interval before the end is never missed.
        """
        thread = threading.Thread(target=self._run, name="replicas", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)
            self._sample()

    def first_below(self, count: int) -> float:
        """When the StatefulSet was first seen asking for fewer than ``count`` pods."""
        return next(when for when, replicas in self.samples if replicas < count)


def pods_of(cluster: dict[str, Any], role: str) -> list[str]:
    """The pods of a role's members, in ordinal order (as the status lists them)."""
    found = next(r for r in cluster["status"]["roles"] if r["id"] == role)
    return [member["pod"] for member in found["members"]]


def merged_timeline(control_plane: ControlPlane, namespace: str, pods: list[str]) -> list[str]:
    """Every tool call in these members, in time order, as ``pod: call``."""
    entries = [
        (when, f"{pod}: {what}")
        for pod in pods
        for directory in member_dirs(control_plane, namespace, pod)
        for when, what in timeline(directory)
    ]
    return [what for _, what in sorted(entries)]


def stamped(control_plane: ControlPlane, namespace: str, pod: str) -> list[tuple[float, str]]:
    """The timeline of one member's tool calls, with their times."""
    return [e for d in member_dirs(control_plane, namespace, pod) for e in timeline(d)]


def test_datanodes_4_to_2_decommission_first_and_2_to_1_is_refused(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    image = {PACKAGE_PATH: setup_package()}
    image |= {path: text.encode() for path, text in fake_hadoop.TOOLS.items()}
    apply(control_plane, namespace, build.app_wire())

    with GuestFiles(control_plane.pods_dir / namespace, image, executable=list(fake_hadoop.TOOLS)):
        apply(control_plane, namespace, hdfs_cluster(4))
        created = wait_ready(control_plane, namespace, CLUSTER, timeout=240)
        [namenode] = pods_of(created, "namenode")
        datanodes = pods_of(created, "datanode")
        # The generated workers file names the DataNodes by fqdn, in ordinal order.
        conf = control_plane.pod_dir(namespace, namenode) / "opt/hadoop/etc/hadoop"
        fqdn = dict(zip(datanodes, (conf / "workers").read_text().split(), strict=True))
        assert all(fqdn[pod].startswith(f"{pod}.") for pod in datanodes), fqdn

        # Set up by the real startscript: HDFS formatted once, every daemon started.
        assert fake_hadoop.calls(control_plane.pod_dir(namespace, namenode))[:2] == [
            "hdfs namenode -format -nonInteractive",
            "hdfs --daemon start namenode",
        ]
        for pod in datanodes:
            started = fake_hadoop.calls(control_plane.pod_dir(namespace, pod))
            assert started[:1] == ["hdfs --daemon start datanode"], pod
        # Each DataNode joined once the NameNode listed it live (kd_member_readiness).
        checks = fake_hadoop.calls(control_plane.pod_dir(namespace, namenode))
        assert "hdfs dfsadmin -report -live" in checks
        ready = wait_until(
            "a MemberReady Event for each DataNode",
            lambda: (
                len(found := event_messages(control_plane, namespace, CLUSTER, "MemberReady"))
                == len(datanodes)
                and found
            ),
            timeout=120,
        )
        assert isinstance(ready, list)
        assert sorted(message.split()[1] for message in ready) == sorted(datanodes)
        assert all(m.endswith("of plugin hadoop is done") for m in ready), ready

        statefulset = next(
            r["statefulSet"] for r in created["status"]["roles"] if r["id"] == "datanode"
        )
        with ReplicaHistory(control_plane, namespace, statefulset).watching() as history:
            apply(control_plane, namespace, hdfs_cluster(2))
            shrunk = wait_ready(control_plane, namespace, CLUSTER, timeout=240)

    # The two highest ordinals left, and only they.
    assert pods_of(shrunk, "datanode") == datanodes[:2]
    assert [s[1] for s in history.samples] == [4, 2]
    leaving = [fqdn[datanodes[3]], fqdn[datanodes[2]]]
    exclude = conf / "dfs.exclude"
    assert exclude.read_text().splitlines() == leaving

    # One order across the members' directories: the DataNodes ran, then the NameNode
    # was told to exclude the leaving ones, reported them decommissioning, then decommissioned.
    order = merged_timeline(control_plane, namespace, [namenode, *datanodes])
    refresh = f"{namenode}: hdfs dfsadmin -refreshNodes excluding: {' '.join(leaving)} "
    assert refresh in order
    after_refresh = order[order.index(refresh) + 1 :]
    reports = [
        call for call in after_refresh if call.startswith(f"{namenode}: hdfs dfsadmin -report")
    ]
    # The fake NameNode answers for its DataNodes in name order.
    in_progress = "".join(f" {host}=Decommission in progress;" for host in sorted(leaving))
    finished = "".join(f" {host}=Decommissioned;" for host in sorted(leaving))
    assert [r.endswith(in_progress) for r in reports[:2]] == [True, True], reports
    assert reports[2].endswith(finished), reports
    for pod in datanodes:
        assert order.index(f"{pod}: hdfs --daemon start datanode") < order.index(refresh)
        assert not [c for c in order if c.startswith(f"{pod}: hdfs dfsadmin")], pod

    # Only then did the StatefulSet shrink.
    decommissioned = next(
        when
        for when, call in stamped(control_plane, namespace, namenode)
        if call.endswith(finished)
    )
    assert history.first_below(4) > decommissioned
    print(
        f"\nStatefulSet shrank {history.first_below(4) - decommissioned:.1f}s after HDFS "
        "reported both DataNodes decommissioned"
    )

    # 2 -> 1 with dfs.replication 2: refused by the plugin's validation, nothing touched.
    calls_before = fake_hadoop.calls(control_plane.pod_dir(namespace, namenode))
    apply(control_plane, namespace, hdfs_cluster(1))

    def refused() -> dict[str, Any]:
        cluster = get_cluster(control_plane, namespace, CLUSTER)
        valid = condition(cluster, "Valid")
        current = valid.get("observedGeneration") == cluster["metadata"]["generation"]
        return valid if current and valid.get("status") == "False" else {}

    valid = wait_until("the 2 -> 1 shrink refused", refused, timeout=120)
    assert isinstance(valid, dict)
    assert valid["reason"] == "InvalidSpec"
    for words in (
        "spec.roles[1].members",
        "dfs.replication=2",
        "kd-hadoop/dfs.replication",
        "(plugin hadoop)",
    ):
        assert words in valid["message"]
    events = warning_events(control_plane, namespace, CLUSTER)
    assert [e for e in events if "dfs.replication=2" in e["message"]], events
    replicas = control_plane.kubectl(
        "get", "statefulset", statefulset, "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    ).stdout
    assert replicas == "2"
    assert fake_hadoop.calls(control_plane.pod_dir(namespace, namenode)) == calls_before
    assert exclude.read_text().splitlines() == leaving
