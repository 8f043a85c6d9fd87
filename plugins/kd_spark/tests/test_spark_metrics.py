"""Spark workers autoscale from the master's JSON status: kd_metrics_endpoint, kd_read_metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest
import spark_builders as build
from kd_spark import plugin

import kubedirector_core as kd
from kubedirector_core.testing.plugin_fixtures import isolated_hooks

MASTER_POD = "spark-example-master-x7k2p-0"


def master_json() -> dict[str, Any]:
    """What ``GET http://<master>:8080/json/`` answers (Spark 3.5's MasterStateResponse).

    Two 4-core workers, all 8 cores used by a running app, one app waiting for cores.
    """

    def worker(index: int) -> dict[str, Any]:
        host = f"spark-example-worker-{index}.{build.DOMAIN}"
        return {
            "id": f"worker-20261122071500-{host}-35{index}21",
            "host": host,
            "port": 35021,
            "webuiaddress": f"http://{host}:8081",
            "cores": 4,
            "coresused": 4,
            "coresfree": 0,
            "memory": 6553,
            "memoryused": 2048,
            "memoryfree": 4505,
            "resources": {},
            "resourcesused": {},
            "resourcesfree": {},
            "state": "ALIVE",
            "lastheartbeat": 1795332757836,
        }

    def app(name: str, state: str, cores: int) -> dict[str, Any]:
        return {
            "id": f"app-20261122071600-000{len(name)}",
            "starttime": 1795332960000,
            "name": name,
            "cores": cores,
            "user": "spark",
            "memoryperexecutor": 1024,
            "memoryperslave": 1024,
            "resourcesperexecutor": [],
            "resourcesperslave": [],
            "submitdate": "Sun Nov 22 07:16:00 UTC 2026",
            "state": state,
            "duration": 120000,
        }

    return {
        "url": f"spark://{MASTER_POD}.{build.DOMAIN}:7077",
        "workers": [worker(0), worker(1)],
        "aliveworkers": 2,
        "cores": 8,
        "coresused": 8,
        "memory": 13106,
        "memoryused": 4096,
        "resources": [],
        "resourcesused": [],
        "activeapps": [app("etl", "RUNNING", 8), app("report", "WAITING", 0)],
        "completedapps": [app("warmup", "FINISHED", 2)],
        "activedrivers": [],
        "completeddrivers": [],
        "status": "ALIVE",
    }


@pytest.fixture
def hooks() -> kd.Hooks:
    return isolated_hooks(("spark", plugin))


def _workers(cluster: kd.KubeDirectorCluster) -> tuple[kd.Member, ...]:
    return tuple(m for m in build.members(cluster) if m.role == "worker")


def _reading(body: str, role: str = "worker") -> kd.MetricsReading:
    url = f"http://{MASTER_POD}.{build.DOMAIN}:8080/json/"
    return kd.MetricsReading(role=role, members=(), url=url, body=body)


def test_workers_are_measured_at_the_masters_json_status(hooks: kd.Hooks) -> None:
    cluster = build.cluster()
    everyone = build.members(cluster)
    master = next(m for m in everyone if m.role == "master")

    endpoint = hooks.metrics_endpoint(build.app(), cluster, "worker", everyone)

    assert endpoint == kd.MetricsEndpoint(url=f"http://{master.hostname}:8080/json/")


def test_no_endpoint_for_other_roles_or_before_the_master_exists(hooks: kd.Hooks) -> None:
    cluster = build.cluster()

    assert hooks.metrics_endpoint(build.app(), cluster, "history", build.members(cluster)) is None
    assert hooks.metrics_endpoint(build.app(), cluster, "worker", _workers(cluster)) is None
    assert hooks.metrics_endpoint(build.app(), cluster, "worker", ()) is None


def test_a_real_master_status_gives_cores_workers_and_waiting_apps(hooks: kd.Hooks) -> None:
    answer = hooks.read_metrics(build.app(), build.cluster(), _reading(json.dumps(master_json())))

    assert answer == (
        {
            "spark_cores_used": 8.0,
            "spark_cores_free": 0.0,
            "spark_alive_workers": 2.0,
            "spark_waiting_apps": 1.0,
        },
        "spark",
    )


def test_the_master_status_drives_the_worker_count(hooks: kd.Hooks) -> None:
    answer = hooks.read_metrics(build.app(), build.cluster(), _reading(json.dumps(master_json())))
    assert answer is not None
    request = kd.AutoscaleInput(
        role="worker", current_members=2, min_members=1, max_members=8, metrics=answer[0]
    )

    # 8 cores in use + one waiting app worth one worker's 4 cores, at 70 %: 12 / 2.8 -> 5.
    assert hooks.autoscale_policy(build.app(), build.cluster(), request) == 5


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html><body>Spark Master at spark://m:7077</body></html>", "is not JSON"),
        ('{"status": "ALIVE", "cores": "eight"}', "has no numeric 'cores' and 'coresused'"),
        ("[1, 2, 3]", "is not a Spark master status"),
    ],
)
def test_an_answer_that_is_no_master_status_is_an_error_naming_the_url(
    hooks: kd.Hooks, body: str, says: str
) -> None:
    with pytest.raises(kd.PluginError) as raised:
        hooks.read_metrics(build.app(), build.cluster(), _reading(body))

    message = str(raised.value)
    assert "spark" in message
    assert says in message
    assert f"http://{MASTER_POD}.{build.DOMAIN}:8080/json/" in message


def test_other_roles_readings_are_left_to_others(hooks: kd.Hooks) -> None:
    assert hooks.read_metrics(build.app(), build.cluster(), _reading("{}", "history")) is None
