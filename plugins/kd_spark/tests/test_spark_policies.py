"""Validation, graceful decommission, node loss and autoscaling of kd-spark."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import fake_spark
import pytest
import spark_builders as build
from kd_spark import plugin
from kd_spark.package import setup_file
from kd_spark.policies import CORES_USED, WAITING_APPS, metrics_from_master_status

import kubedirector_core as kd
from kubedirector_core.testing.plugin_fixtures import isolated_hooks


@pytest.fixture
def hooks() -> kd.Hooks:
    return isolated_hooks(("spark", plugin))


def _errors(hooks: kd.Hooks, cluster: kd.KubeDirectorCluster) -> list[kd.Problem]:
    return [p for p in hooks.validate_cluster(cluster, build.app(), None) if p.is_error]


# -- validation ----------------------------------------------------------------------------


def test_the_example_is_valid(hooks: kd.Hooks) -> None:
    assert hooks.validate_app(build.app()) == []
    assert hooks.validate_cluster(build.cluster(), build.app(), None) == []


def test_exactly_one_master(hooks: kd.Hooks) -> None:
    [problem] = _errors(hooks, build.cluster(master=2))
    assert problem.path == "spec.roles[0].members"
    assert "exactly one master" in problem.message


@pytest.mark.parametrize(("role", "index"), [("history", 2), ("notebook", 3)])
def test_at_most_one_history_server_and_notebook(hooks: kd.Hooks, role: str, index: int) -> None:
    [problem] = _errors(hooks, build.cluster(**{role: 2}))
    assert problem.path == f"spec.roles[{index}].members"
    assert _errors(hooks, build.cluster(**{role: 0})) == []


def test_workers_must_hold_one_executor(hooks: kd.Hooks) -> None:
    # spark.executor.memory=2g (the example's annotation); a 2Gi worker offers 1408 MiB.
    [memory] = _errors(hooks, build.cluster(worker_limits={"cpu": "4", "memory": "2Gi"}))
    assert memory.path == "spec.roles[1].resources.limits.memory"
    assert "spark.executor.memory=2g" in memory.message
    assert "at least 2816Mi" in memory.message

    cores = build.cluster({"kd-spark/spark.executor.cores": "8"})
    [cpu] = _errors(hooks, cores)
    assert cpu.path == "spec.roles[1].resources.limits.cpu"


def test_gpu_executors_need_gpu_workers(hooks: kd.Hooks) -> None:
    annotations = {"kd-spark/spark.executor.resource.gpu.amount": "1"}
    [problem] = _errors(hooks, build.cluster(annotations))
    assert problem.path == "spec.roles[1].resources.limits.nvidia.com/gpu"
    gpu = {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert _errors(hooks, build.cluster(annotations, worker_limits=gpu)) == []


def test_an_app_whose_master_scales_is_rejected(hooks: kd.Hooks) -> None:
    document = build.app_wire()
    document["spec"]["roles"][0]["cardinality"] = "1+"
    [problem] = hooks.validate_app(kd.KubeDirectorApp.from_wire(document))
    assert problem.path == "spec.roles[0].cardinality"


# -- resize --------------------------------------------------------------------------------


def test_leaving_workers_decommission_themselves_before_the_shrink(hooks: kd.Hooks) -> None:
    cluster = build.cluster(worker=1)
    decision = hooks.on_resize(build.app(), cluster, build.resize(cluster, "worker", 3))

    assert decision.verdict is kd.ResizeVerdict.WAIT
    assert [a.member for a in decision.actions] == [
        "spark-example-worker-2",
        "spark-example-worker-1",
    ]
    for action in decision.actions:
        assert action.command[-1] == "decommission"
        assert action.done_when is kd.DoneWhen.CHECK_SUCCEEDS
        assert action.check[-1] == "is-decommissioned"


def test_growing_proceeds(hooks: kd.Hooks) -> None:
    cluster = build.cluster(worker=3)
    resize = build.resize(cluster, "worker", 2)
    assert hooks.on_resize(build.app(), cluster, resize).verdict is kd.ResizeVerdict.PROCEED


def test_the_helper_decommissions_and_waits_for_the_worker_to_stop(tmp_path: Path) -> None:
    guest = tmp_path / "spark-example-worker-2"
    fake_spark.install(guest, running=("worker",))
    helper = guest / "opt/kd-spark/bin/kd-spark"
    helper.parent.mkdir(parents=True)
    helper.write_text(setup_file("kd-spark"))
    helper.chmod(0o755)
    cluster = build.cluster(worker=2)
    decision = plugin.kd_on_resize(
        app=build.app(), cluster=cluster, resize=build.resize(cluster, "worker", 3)
    )
    assert decision is not None
    [action] = decision.actions
    env = {"PATH": os.environ["PATH"], "KD_GUEST_ROOT": str(guest)}

    def run(command: tuple[str, ...]) -> int:
        return subprocess.run(
            command, env=env, cwd=guest, capture_output=True, check=False
        ).returncode

    assert run(action.command) == 0
    assert run(action.check) == 1  # still draining
    assert run(action.check) == 0  # stopped
    assert fake_spark.calls(guest) == [
        "spark-daemon.sh status org.apache.spark.deploy.worker.Worker 1",
        "decommission-worker.sh",
        "spark-daemon.sh status org.apache.spark.deploy.worker.Worker 1",
        "spark-daemon.sh status org.apache.spark.deploy.worker.Worker 1",
    ]


# -- node failures --------------------------------------------------------------------------


def test_a_lost_master_is_replaced_after_30_seconds(hooks: kd.Hooks) -> None:
    event = kd.NodeDown(
        member=build.member("master"),
        node_name="n1",
        problem=kd.NodeProblem.NOT_READY,
        down_for_seconds=31,
        has_persistent_storage=False,
    )
    decision = hooks.on_node_down(build.app(), build.cluster(), event)
    assert decision.action is kd.NodeDownAction.REPLACE_MEMBER


# -- autoscaling from the master's status --------------------------------------------------


def master_status(cores: int, used: int, waiting: int, running: int = 1) -> dict[str, Any]:
    """A Spark master's /json answer, trimmed to what matters."""
    apps = [{"id": f"app-{i}", "state": "RUNNING", "cores": 4} for i in range(running)]
    apps += [{"id": f"app-w{i}", "state": "WAITING", "cores": 0} for i in range(waiting)]
    return {
        "url": "spark://spark-example-master-0:7077",
        "aliveworkers": cores // 4,
        "cores": cores,
        "coresused": used,
        "memory": 8192,
        "memoryused": 2048,
        "activeapps": apps,
        "status": "ALIVE",
    }


def test_workers_autoscale_from_the_master_status(hooks: kd.Hooks) -> None:
    """A day of load: a queue forms, workers are added, the queue drains, workers go one by one."""
    members = 2
    seen = []
    for cores_used, waiting in [(4, 0), (8, 2), (16, 1), (16, 0), (4, 0), (0, 0), (0, 0)]:
        status = master_status(
            cores=members * 4, used=min(cores_used, members * 4), waiting=waiting
        )
        request = kd.AutoscaleInput(
            role="worker",
            current_members=members,
            min_members=2,
            max_members=8,
            metrics=metrics_from_master_status(status),
        )
        members = hooks.autoscale_policy(build.app(), build.cluster(), request)
        seen.append(members)

    # 4 cores a worker, 70 % target use; a waiting app counts for one worker's cores.
    assert seen == [2, 6, 8, 7, 6, 5, 4]


def test_metrics_are_read_from_the_master_status() -> None:
    metrics = metrics_from_master_status(master_status(cores=8, used=6, waiting=3))
    assert metrics == {
        CORES_USED: 6.0,
        "spark_cores_free": 2.0,
        WAITING_APPS: 3.0,
        "spark_alive_workers": 2.0,
    }


def test_without_the_masters_metrics_the_cores_default_decides(hooks: kd.Hooks) -> None:
    request = kd.AutoscaleInput(role="worker", current_members=3, min_members=1, max_members=5)
    assert hooks.autoscale_policy(build.app(), build.cluster(), request) == 3
