"""The helpers for plugin authors (kubedirector_core.pluginkit), as kd-hadoop and kd-spark use."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import kubedirector_core as kd


def _app(app: kd.KubeDirectorApp, config_meta: dict[str, str]) -> kd.KubeDirectorApp:
    """``app`` (the conftest's, one role ``worker`` of cardinality 1+) with a configMeta."""
    document = app.to_wire()
    document["spec"]["config"]["configMeta"] = config_meta
    return kd.KubeDirectorApp.from_wire(document)


def _cluster(
    cluster: kd.KubeDirectorCluster,
    worker: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> kd.KubeDirectorCluster:
    """``cluster`` (the conftest's: workers of 1 cpu, 1Gi) with its worker role changed."""
    document = cluster.to_wire()
    document["metadata"]["annotations"] = annotations or {}
    document["spec"]["roles"][0].update(worker or {})
    document["spec"]["roles"][0] = {
        k: v for k, v in document["spec"]["roles"][0].items() if v is not None
    }
    if status is not None:
        document["status"] = status
    return kd.KubeDirectorCluster.from_wire(document)


def _role(cluster: kd.KubeDirectorCluster) -> kd.ClusterRole:
    role = cluster.role("worker")
    assert role is not None
    return role


def _member(pod: str, role: str = "worker", domain: str = "c1-hs.ns.svc.example.org") -> kd.Member:
    return kd.Member(
        name=pod, role=role, ordinal=int(pod.rsplit("-", 1)[1]), hostname=f"{pod}.{domain}"
    )


# -- members and resources -------------------------------------------------------------------


def test_requested_members_defaults_to_the_apps_minimum(
    app: kd.KubeDirectorApp, cluster: kd.KubeDirectorCluster
) -> None:
    assert kd.requested_members(app, _role(cluster)) == 2
    assert kd.requested_members(app, _role(_cluster(cluster, {"members": None}))) == 1


@pytest.mark.parametrize(
    ("resources", "memory", "cpus"),
    [
        ({"limits": {"cpu": "2500m", "memory": "3Gi"}}, 3072, 2),
        ({"limits": {"memory": "1536Mi"}, "requests": {"cpu": "4"}}, 1536, 4),
        ({"limits": {"cpu": "200m", "memory": "1G"}}, 953, 1),
    ],
)
def test_a_members_memory_and_cpus_come_from_its_limits_else_requests(
    cluster: kd.KubeDirectorCluster, resources: dict[str, Any], memory: int, cpus: int
) -> None:
    role = _role(_cluster(cluster, {"resources": resources}))

    assert kd.memory_mib(role) == memory
    assert kd.whole_cpus(role) == cpus


def test_a_resource_not_asked_for_is_the_default(cluster: kd.KubeDirectorCluster) -> None:
    gpus = _role(_cluster(cluster, {"resources": {"limits": {"nvidia.com/gpu": "2"}}}))
    assert kd.role_resource(_role(cluster), "nvidia.com/gpu") == 0
    assert kd.role_resource(gpus, "nvidia.com/gpu") == 2


def test_mib_are_written_as_a_person_would() -> None:
    assert [kd.format_mib(m) for m in (1024, 3072, 1536, 256)] == ["1Gi", "3Gi", "1536Mi", "256Mi"]


def test_members_of_keeps_the_order_given() -> None:
    members = [_member("c1-worker-1"), _member("c1-master-0", "master"), _member("c1-worker-0")]
    assert [m.name for m in kd.members_of(members, ["worker"])] == ["c1-worker-1", "c1-worker-0"]


def test_the_hostname_of_another_roles_first_member_is_found_among_all_members() -> None:
    members = [
        _member("c1-worker-x7f3q-1"),
        _member("c1-master-x2k9p-1", role="master"),
        _member("c1-master-x2k9p-0", role="master"),
    ]

    host = kd.hostname_of(members, ["spark-master", "master"])

    assert host == "c1-master-x2k9p-0.c1-hs.ns.svc.example.org"


def test_no_hostname_while_no_member_of_the_roles_is_listed() -> None:
    workers = [_member("c1-worker-0")]
    assert kd.hostname_of(workers, ["master"]) is None
    assert kd.hostname_of([], ["master"]) is None


# -- settings --------------------------------------------------------------------------------


def test_a_cluster_annotation_wins_over_the_apps_config_meta(
    app: kd.KubeDirectorApp, cluster: kd.KubeDirectorCluster
) -> None:
    app = _app(app, {"block.size": "64"})

    assert kd.find_setting(app, cluster, "kd-demo/", "block.size") == (
        "spec.config.configMeta.block.size",
        "64",
    )
    annotated = _cluster(cluster, annotations={"kd-demo/block.size": "128"})
    assert kd.find_setting(app, annotated, "kd-demo/", "block.size") == (
        "metadata.annotations.kd-demo/block.size",
        "128",
    )
    assert kd.find_setting(app, None, "kd-demo/", "other") is None


def test_a_bad_whole_number_names_the_field_it_was_read_from() -> None:
    found = ("metadata.annotations.kd-demo/copies", "two")
    with pytest.raises(kd.SettingError) as raised:
        kd.whole_number_setting(found, "copies")
    problem = raised.value.as_problem()
    assert problem.path == "metadata.annotations.kd-demo/copies"
    assert "copies must be a whole number, not 'two'" in problem.message

    with pytest.raises(kd.SettingError, match="copies must be at least 2, not 1"):
        kd.whole_number_setting(("spec.config.configMeta.copies", " 1 "), "copies", least=2)
    assert kd.whole_number_setting(("spec.config.configMeta.copies", " 3 "), "copies") == 3
    assert kd.whole_number_setting(None, "copies") is None


# -- decisions -------------------------------------------------------------------------------


def test_a_guest_command_runs_the_file_under_the_members_guest_root(tmp_path: Path) -> None:
    tool = tmp_path / "opt/demo/bin/demo-tool"
    tool.parent.mkdir(parents=True)
    tool.write_text('#!/bin/sh\necho "$0: $*"\n')
    tool.chmod(0o755)
    command = kd.guest_command("/opt/demo/bin/demo-tool", "drain", "it's here")

    done = subprocess.run(
        command,
        env={"KD_GUEST_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout == f"{tool}: drain it's here\n"
    with pytest.raises(ValueError, match="absolute path"):
        kd.guest_command("bin/demo-tool")


def _down(problem: kd.NodeProblem, seconds: float) -> kd.NodeDown:
    return kd.NodeDown(
        member=_member("c1-worker-0"),
        node_name="n1",
        problem=problem,
        down_for_seconds=seconds,
        has_persistent_storage=False,
    )


def test_replace_after_grace_waits_out_the_grace_then_replaces() -> None:
    waiting = kd.replace_after_grace(_down(kd.NodeProblem.NOT_READY, 20), 60, "worker moves")
    assert waiting.action is kd.NodeDownAction.WAIT
    assert waiting.retry_after_seconds == 40

    late = kd.replace_after_grace(_down(kd.NodeProblem.NOT_READY, 60), 60, "worker moves")
    gone = kd.replace_after_grace(_down(kd.NodeProblem.GONE, 0), 60, "worker moves")
    for decision in (late, gone):
        assert decision.action is kd.NodeDownAction.REPLACE_MEMBER
        assert decision.reason.startswith("worker moves (node n1 ")


def _request(current: int) -> kd.AutoscaleInput:
    return kd.AutoscaleInput(role="worker", current_members=current, min_members=1, max_members=6)


@pytest.mark.parametrize(
    ("current", "demand", "backlog", "members"),
    [
        (2, 14, False, 5),  # 14 units / (4 a member x 70 %) -> 5
        (2, 0, True, 3),  # work waits: at least one more
        (5, 0, False, 4),  # idle: one fewer at a time
        (5, 100, True, 6),  # never beyond the bounds
        (1, 0, False, 1),
    ],
)
def test_scale_to_demand(current: int, demand: float, backlog: bool, members: int) -> None:
    assert kd.scale_to_demand(_request(current), demand, 4, backlog=backlog) == members


def test_scale_to_demand_needs_a_positive_capacity() -> None:
    with pytest.raises(ValueError, match="per_member must be positive"):
        kd.scale_to_demand(_request(2), 4, 0, backlog=False)


def test_json_body_says_what_was_not_json_where_and_what_to_do() -> None:
    reading = kd.MetricsReading(role="worker", members=(), url="http://m:8080/json/", body="<html>")

    with pytest.raises(ValueError, match="is not JSON") as raised:
        kd.json_body(reading, "the master status", "point metricSource.url at /json/")

    message = str(raised.value)
    assert message.startswith("the master status from http://m:8080/json/ is not JSON (")
    assert message.endswith("): point metricSource.url at /json/")
    ok = kd.MetricsReading(role="worker", members=(), url="http://m/", body='{"a": [1]}')
    assert kd.json_body(ok, "x", "y") == {"a": [1]}
