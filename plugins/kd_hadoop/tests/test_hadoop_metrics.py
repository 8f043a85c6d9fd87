"""NodeManagers autoscale from YARN's own metrics: kd_metrics_endpoint, kd_read_metrics."""

from __future__ import annotations

import json
from typing import Any

import hadoop_builders as build
import pytest
from kd_hadoop import plugin

import kubedirector_core as kd
from kubedirector_core.testing.plugin_fixtures import isolated_hooks

RM_POD = "hadoop-example-resourcemanager-q8v3n-0"
RM_URL = f"http://{RM_POD}.{build.DOMAIN}:8088/ws/v1/cluster/metrics"


def cluster_metrics() -> dict[str, Any]:
    """What ``GET /ws/v1/cluster/metrics`` answers on a Hadoop 3.3 ResourceManager.

    Two NodeManagers of 6 GiB, 10 containers running, 14 waiting, one app not started.
    """
    return {
        "clusterMetrics": {
            "appsSubmitted": 5,
            "appsCompleted": 2,
            "appsPending": 1,
            "appsRunning": 2,
            "appsFailed": 0,
            "appsKilled": 0,
            "reservedMB": 0,
            "availableMB": 2048,
            "allocatedMB": 10240,
            "pendingMB": 14336,
            "reservedVirtualCores": 0,
            "availableVirtualCores": 0,
            "allocatedVirtualCores": 8,
            "pendingVirtualCores": 14,
            "containersAllocated": 10,
            "containersReserved": 0,
            "containersPending": 14,
            "totalMB": 12288,
            "totalVirtualCores": 8,
            "utilizedMBPercent": 83,
            "utilizedVirtualCoresPercent": 100,
            "rmSchedulerBusyPercent": -1,
            "totalNodes": 2,
            "lostNodes": 0,
            "unhealthyNodes": 0,
            "decommissioningNodes": 0,
            "decommissionedNodes": 0,
            "rebootedNodes": 0,
            "activeNodes": 2,
            "shutdownNodes": 0,
            "totalUsedResourcesAcrossPartition": {"memory": 10240, "vCores": 8},
            "totalClusterResourcesAcrossPartition": {"memory": 12288, "vCores": 8},
        }
    }


@pytest.fixture
def hooks() -> kd.Hooks:
    return isolated_hooks(("hadoop", plugin))


def _nodemanagers(cluster: kd.KubeDirectorCluster) -> tuple[kd.Member, ...]:
    return tuple(m for m in build.members(cluster) if m.role == "nodemanager")


def _reading(body: str, role: str = "nodemanager") -> kd.MetricsReading:
    return kd.MetricsReading(role=role, members=(), url=RM_URL, body=body)


def test_nodemanagers_are_measured_at_the_resourcemanagers_rest_api(hooks: kd.Hooks) -> None:
    cluster = build.cluster()
    everyone = build.members(cluster)
    manager = next(m for m in everyone if m.role == "resourcemanager")

    endpoint = hooks.metrics_endpoint(build.app(), cluster, "nodemanager", everyone)

    assert endpoint == kd.MetricsEndpoint(
        url=f"http://{manager.hostname}:8088/ws/v1/cluster/metrics"
    )


def test_no_endpoint_for_other_roles_or_before_the_resourcemanager_exists(
    hooks: kd.Hooks,
) -> None:
    cluster = build.cluster()

    assert hooks.metrics_endpoint(build.app(), cluster, "datanode", build.members(cluster)) is None
    assert (
        hooks.metrics_endpoint(build.app(), cluster, "nodemanager", _nodemanagers(cluster)) is None
    )


def test_a_real_answer_gives_pending_and_allocated_containers(hooks: kd.Hooks) -> None:
    body = json.dumps(cluster_metrics())

    answer = hooks.read_metrics(build.app(), build.cluster(), _reading(body))

    metrics = {
        "yarn_containers_pending": 14.0,
        "yarn_containers_allocated": 10.0,
        "yarn_apps_pending": 1.0,
    }
    assert answer == (metrics, "hadoop")


def test_the_answer_drives_the_nodemanager_count(hooks: kd.Hooks) -> None:
    answer = hooks.read_metrics(
        build.app(), build.cluster(), _reading(json.dumps(cluster_metrics()))
    )
    assert answer is not None
    request = kd.AutoscaleInput(
        role="nodemanager", current_members=2, min_members=1, max_members=10, metrics=answer[0]
    )

    # An 8Gi NodeManager offers six 1 GiB containers; 24 containers at 70 %: 24 / 4.2 -> 6.
    assert hooks.autoscale_policy(build.app(), build.cluster(), request) == 6


def test_a_pending_application_alone_grows_the_role(hooks: kd.Hooks) -> None:
    metrics = {"yarn_containers_pending": 0, "yarn_containers_allocated": 0, "yarn_apps_pending": 1}
    request = kd.AutoscaleInput(
        role="nodemanager", current_members=2, min_members=1, max_members=10, metrics=metrics
    )

    assert hooks.autoscale_policy(build.app(), build.cluster(), request) == 3


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html><title>Cluster</title></html>", "is not JSON"),
        (
            '{"clusterMetrics": {"appsPending": 1}}',
            "has no numeric clusterMetrics.containersPending",
        ),
        ('{"RemoteException": {"message": "Standby RM"}}', "is not YARN's cluster metrics"),
    ],
)
def test_an_answer_that_is_no_cluster_metrics_is_an_error_naming_the_url(
    hooks: kd.Hooks, body: str, says: str
) -> None:
    with pytest.raises(kd.PluginError) as raised:
        hooks.read_metrics(build.app(), build.cluster(), _reading(body))

    message = str(raised.value)
    assert "hadoop" in message
    assert says in message
    assert RM_URL in message


def test_other_roles_readings_are_left_to_others(hooks: kd.Hooks) -> None:
    assert hooks.read_metrics(build.app(), build.cluster(), _reading("{}", "datanode")) is None
