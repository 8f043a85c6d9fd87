"""kd-spark with the operator on the real control plane: workers autoscale from the master's status.

What runs is what a user deploys: the catalog's ``spark3`` app, unchanged, its
setup package (``python -m kd_spark.package``) with the real startscript and
helper, and the installed plugin, which reads the master's status
(``kd_read_metrics``) and sizes the workers (``kd_autoscale_policy``). Stand-ins:
what a Spark image holds (the setup package at the app's ``packageURL`` and fake
``sbin`` scripts, see ``fake_spark``), copied into each pod's directory by
:class:`~kubedirector_core.testing.operator.GuestFiles`; and the master's web UI,
whose ``/json/`` status is served on 127.0.0.1 by the test (KWOK pods have no
network), named by the role's ``autoscale.metricSource.url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fake_spark
import pytest
import spark_builders as build
from kd_spark.package import setup_package

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    GuestFiles,
    JsonEndpoint,
    OperatorProcess,
    apply,
    cluster_ready,
    condition,
    events_about,
    get_cluster,
    member_dirs,
    timeline,
    wait_until,
)

pytestmark = pytest.mark.controlplane

CLUSTER = "sparky"
PACKAGE_PATH = "/opt/kd-spark/kd-spark-setup.tgz"
WORKER_CORES = 2


def master_status(workers: int, cores_used: int, waiting_apps: int) -> dict[str, Any]:
    """A Spark master's ``/json/``: ``workers`` alive, cores in use, apps waiting for cores."""
    running = [{"id": "app-1", "name": "etl", "state": "RUNNING", "cores": cores_used}]
    waiting = [
        {"id": f"app-w{i}", "name": "queued", "state": "WAITING", "cores": 0}
        for i in range(waiting_apps)
    ]
    return {
        "url": f"spark://{CLUSTER}-master-0:7077",
        "aliveworkers": workers,
        "cores": workers * WORKER_CORES,
        "coresused": cores_used,
        "memory": workers * 1408,
        "memoryused": 0,
        "activeapps": (running if cores_used else []) + waiting,
        "completedapps": [],
        "status": "ALIVE",
    }


@pytest.fixture
def spark_master() -> Iterator[JsonEndpoint]:
    """The stand-in for the master's web UI."""
    with JsonEndpoint("/json/") as endpoint:
        yield endpoint


def spark_cluster(metrics_url: str | None) -> dict[str, Any]:
    """A master and 1 to 3 workers, autoscaled from the master status at ``metrics_url``.

    Without a URL the plugin's own endpoint is read: the master's fqdn.
    """
    document = build.cluster_wire()
    document["metadata"] = {"name": CLUSTER}
    document["spec"]["roles"] = [
        {"id": "master", "members": 1, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        {
            "id": "worker",
            "members": 1,
            "resources": {"limits": {"cpu": str(WORKER_CORES), "memory": "2Gi"}},
            "autoscale": {
                "minMembers": 1,
                "maxMembers": 3,
                "evaluationIntervalSeconds": 2,
                "scaleUpStabilizationSeconds": 0,
                "scaleDownStabilizationSeconds": 0,
                "metricSource": {"type": "Plugin", **({"url": metrics_url} if metrics_url else {})},
            },
        },
    ]
    return document


def workers_of(cluster: dict[str, Any]) -> list[str]:
    role = next(r for r in cluster["status"]["roles"] if r["id"] == "worker")
    return [member["pod"] for member in role["members"]]


def ready_with(control_plane: ControlPlane, namespace: str, workers: int) -> dict[str, Any]:
    """Wait until the cluster is Ready with ``workers`` workers, and return it."""

    def settled() -> dict[str, Any] | None:
        cluster = get_cluster(control_plane, namespace, CLUSTER)
        if not cluster_ready(cluster) or len(workers_of(cluster)) != workers:
            return None
        return cluster

    found = wait_until(f"{CLUSTER} Ready with {workers} workers", settled, timeout=240)
    assert isinstance(found, dict)
    return found


def decision(cluster: dict[str, Any]) -> dict[str, Any]:
    """The worker role's last autoscale decision."""
    role = next(r for r in cluster["status"]["autoscale"] if r["role"] == "worker")
    return dict(role["lastDecision"])


def test_workers_autoscale_from_the_masters_status_and_leave_gracefully(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    spark_master: JsonEndpoint,
) -> None:
    image = {PACKAGE_PATH: setup_package()}
    image |= {path: text.encode() for path, text in fake_spark.SCRIPTS.items()}
    apply(control_plane, namespace, build.app_wire())
    # Busy from the start: both cores of the one worker in use and an application waiting.
    spark_master.document = master_status(workers=1, cores_used=2, waiting_apps=1)

    with GuestFiles(control_plane.pods_dir / namespace, image, executable=list(fake_spark.SCRIPTS)):
        # The plugin's own endpoint: the master's web UI by its fqdn, which only the
        # cluster's DNS resolves (KWOK pods have none): the workers keep their count.
        apply(control_plane, namespace, spark_cluster(None))
        created = ready_with(control_plane, namespace, 1)
        [master] = [
            r["members"][0]["pod"] for r in created["status"]["roles"] if r["id"] == "master"
        ]

        # Until the status lists the master the plugin abstains; then its URL is tried.
        def tried() -> str:
            found = condition(get_cluster(control_plane, namespace, CLUSTER), "Autoscaling")
            message = str(found.get("message", ""))
            return message if found.get("status") == "False" and "GET http" in message else ""

        message = str(wait_until("the plugin's endpoint tried", tried, timeout=120))
        assert f"GET http://{master}." in message
        assert ":8080/json/" in message
        assert spark_master.requests == []

        # Pointed at the test's stand-in for the master's web UI.
        apply(control_plane, namespace, spark_cluster(spark_master.url))

        # 2 cores used + 1 waiting app x 2 cores, at 70 % of 2 cores a worker: 3 workers.
        grown = ready_with(control_plane, namespace, 3)
        busy = decision(grown)
        assert busy["plugin"] == "spark"
        assert busy["metrics"]["spark_waiting_apps"] == 1.0
        assert busy["metrics"]["spark_cores_used"] == 2.0
        assert busy["recommendedMembers"] == 3
        workers = workers_of(grown)
        master_url = next(
            line
            for line in (control_plane.pod_dir(namespace, workers[0]) / "etc/kd-spark/env")
            .read_text()
            .splitlines()
            if line.startswith("KD_SPARK_MASTER_URL=")
        ).split("=", 1)[1]
        for pod in workers:
            assert fake_spark.calls(control_plane.pod_dir(namespace, pod))[:1] == [
                f"start-worker.sh {master_url}"
            ], pod
        autoscaled = events_about(control_plane, namespace, CLUSTER, "Normal")
        assert [e for e in autoscaled if e["reason"] == "Autoscaled"], autoscaled

        # The queue drains and nothing runs: down one worker per decision, to the minimum.
        spark_master.document = master_status(workers=3, cores_used=0, waiting_apps=0)
        shrunk = ready_with(control_plane, namespace, 1)

    assert workers_of(shrunk) == workers[:1]
    idle = decision(shrunk)
    assert idle["metrics"]["spark_cores_used"] == 0.0
    assert idle["metrics"]["spark_waiting_apps"] == 0.0
    assert set(spark_master.requests) == {"/json/"}

    # Each leaving worker was decommissioned, and stopped, before it was removed;
    # the highest ordinal first, one at a time.
    finished: dict[str, float] = {}
    for pod in reversed(workers[1:]):
        [directory] = member_dirs(control_plane, namespace, pod)
        calls = fake_spark.calls(directory)
        polls = calls[calls.index("decommission-worker.sh") + 1 :]
        # Polled until the worker stopped: still draining at the first poll.
        assert len(polls) >= 2, calls
        assert set(polls) == {"spark-daemon.sh status org.apache.spark.deploy.worker.Worker 1"}
        assert not (directory / "var/run/fake-spark/worker.running").exists()
        finished[pod] = timeline(directory)[-1][0]
        started = next(t for t, c in timeline(directory) if c == "decommission-worker.sh")
        assert started < finished[pod]
    assert finished[workers[2]] < finished[workers[1]]
    assert fake_spark.calls(control_plane.pod_dir(namespace, workers[0]))[:1] == [
        f"start-worker.sh {master_url}"
    ]
    assert "decommission-worker.sh" not in fake_spark.calls(
        control_plane.pod_dir(namespace, workers[0])
    )
    print(f"\nautoscale decisions: busy {busy['reason']!r}; idle {idle['reason']!r}")
    assert get_cluster(control_plane, namespace, CLUSTER)["status"]["state"] == "configured"
