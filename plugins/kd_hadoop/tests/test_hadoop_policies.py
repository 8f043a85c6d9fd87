"""Validation, resize, node-loss and autoscale decisions of kd-hadoop, through the core's facade."""

from __future__ import annotations

import dataclasses

import hadoop_builders as build
import pytest
from kd_hadoop import plugin
from kd_hadoop.policies import (
    ALLOCATED_CONTAINERS,
    PENDING_CONTAINERS,
    metrics_from_resourcemanager,
)

import kubedirector_core as kd
from kubedirector_core.testing.plugin_fixtures import isolated_hooks


@pytest.fixture
def hooks() -> kd.Hooks:
    return isolated_hooks(("hadoop", plugin))


def _errors(hooks: kd.Hooks, cluster: kd.KubeDirectorCluster) -> list[kd.Problem]:
    return [p for p in hooks.validate_cluster(cluster, build.app(), None) if p.is_error]


# -- validation ----------------------------------------------------------------------------


def test_the_example_cluster_and_app_are_valid(hooks: kd.Hooks) -> None:
    assert hooks.validate_app(build.app()) == []
    assert hooks.validate_cluster(build.cluster(), build.app(), None) == []


def test_exactly_one_namenode(hooks: kd.Hooks) -> None:
    [problem] = _errors(hooks, build.cluster(namenode=2))
    assert problem.path == "spec.roles[0].members"
    assert "exactly one NameNode" in problem.message
    assert problem.source == "hadoop"


def test_datanodes_at_least_the_replication(hooks: kd.Hooks) -> None:
    assert _errors(hooks, build.cluster(replication=2, datanode=2)) == []

    [problem] = _errors(hooks, build.cluster(replication=3, datanode=2))
    assert problem.path == "spec.roles[1].members"
    assert "dfs.replication=3" in problem.message
    assert "kd-hadoop/dfs.replication" in problem.message


def test_replication_defaults_to_the_apps_config_meta(hooks: kd.Hooks) -> None:
    [problem] = _errors(hooks, build.cluster(replication=None, datanode=2))
    assert "dfs.replication=3" in problem.message


def test_a_malformed_replication_is_reported_where_it_was_written(hooks: kd.Hooks) -> None:
    [problem] = _errors(hooks, build.cluster(replication="two"))
    assert problem.path == "metadata.annotations.kd-hadoop/dfs.replication"
    assert "'two'" in problem.message


def test_nodemanagers_need_memory_for_one_minimum_allocation(hooks: kd.Hooks) -> None:
    # 256 MiB of NodeManager heap and 256 MiB of overhead leave 1024 MiB from 1536 MiB.
    [problem] = _errors(hooks, build.cluster(memory={"nodemanager": "1280Mi"}))
    assert problem.path == "spec.roles[3].resources.limits.memory"
    assert "yarn.scheduler.minimum-allocation-mb=1024" in problem.message
    assert "at least 1536Mi" in problem.message
    assert _errors(hooks, build.cluster(memory={"nodemanager": "1536Mi"})) == []


def test_a_namenode_without_storage_is_a_warning(hooks: kd.Hooks) -> None:
    document = build.cluster_wire()
    del document["spec"]["roles"][0]["storage"]
    found = hooks.validate_cluster(kd.KubeDirectorCluster.from_wire(document), build.app(), None)

    [warning] = found
    assert warning.path == "spec.roles[0].storage"
    assert not warning.is_error


def test_an_app_with_a_scaling_namenode_is_rejected(hooks: kd.Hooks) -> None:
    document = build.app_wire()
    document["spec"]["roles"][0]["cardinality"] = "1+"
    [problem] = hooks.validate_app(kd.KubeDirectorApp.from_wire(document))
    assert problem.path == "spec.roles[0].cardinality"


# -- resize --------------------------------------------------------------------------------


def test_shrinking_datanodes_decommissions_them_in_the_namenode_first(hooks: kd.Hooks) -> None:
    cluster = build.cluster(replication=2, datanode=2)

    decision = hooks.on_resize(build.app(), cluster, build.resize(cluster, "datanode", 4))

    assert decision.verdict is kd.ResizeVerdict.WAIT
    [action] = decision.actions
    assert action.member == "hadoop-example-namenode-0"
    hosts = [build.fqdn("datanode", 3), build.fqdn("datanode", 2)]
    assert action.command[-4:] == ("decommission", "hdfs", *hosts)
    assert action.done_when is kd.DoneWhen.CHECK_SUCCEEDS
    assert action.check[-4:] == ("is-decommissioned", "hdfs", *hosts)
    assert "${KD_GUEST_ROOT:-}/opt/kd-hadoop/bin/kd-hadoop" in action.command[2]
    assert "hadoop-example-datanode-3" in decision.reason


def test_action_keys_are_file_names_and_change_with_the_generation(hooks: kd.Hooks) -> None:
    cluster = build.cluster(datanode=2)
    first = hooks.on_resize(build.app(), cluster, build.resize(cluster, "datanode", 4)).actions[0]
    document = build.cluster_wire(datanode=2)
    document["metadata"]["generation"] = 7
    later_cluster = kd.KubeDirectorCluster.from_wire(document)
    resize = build.resize(later_cluster, "datanode", 4)
    later = hooks.on_resize(build.app(), later_cluster, resize).actions[0]

    for key in (first.key, later.key):
        assert all(c.isalnum() or c in "._-" for c in key), key
    assert first.key != later.key
    assert ".g7." in later.key


def test_a_member_that_came_back_is_decommissioned_again_in_the_same_generation(
    hooks: kd.Hooks,
) -> None:
    """Autoscaling resizes without a new generation; the core gives a new member a new node id."""
    cluster = build.cluster(nodemanager=1)
    resize = build.resize(cluster, "nodemanager", 2)
    [leaving] = resize.leaving
    again = kd.RoleResize(
        role=resize.role,
        phase=resize.phase,
        current_members=2,
        desired_members=1,
        leaving=(dataclasses.replace(leaving, node_id=(leaving.node_id or 0) + 5),),
        members=resize.members,
    )

    first = hooks.on_resize(build.app(), cluster, resize).actions[0]
    second = hooks.on_resize(build.app(), cluster, again).actions[0]

    assert first.command == second.command
    assert first.key != second.key


def test_shrinking_below_the_replication_is_refused(hooks: kd.Hooks) -> None:
    cluster = build.cluster(replication=2, datanode=1)

    decision = hooks.on_resize(build.app(), cluster, build.resize(cluster, "datanode", 2))

    assert decision.verdict is kd.ResizeVerdict.REFUSE
    assert "dfs.replication=2" in decision.reason
    assert decision.reason.startswith("hadoop: ")


def test_shrinking_nodemanagers_drains_them_in_the_resourcemanager(hooks: kd.Hooks) -> None:
    cluster = build.cluster(nodemanager=1)
    resize = build.resize(cluster, "nodemanager", 2)

    [action] = hooks.on_resize(build.app(), cluster, resize).actions

    assert action.member == "hadoop-example-resourcemanager-0"
    assert action.command[-3:] == ("decommission", "yarn", build.fqdn("nodemanager", 1))


def test_joining_datanodes_are_taken_off_the_exclude_list(hooks: kd.Hooks) -> None:
    cluster = build.cluster()  # 3 DataNodes
    resize = build.resize(cluster, "datanode", 2)

    [action] = hooks.on_resize(build.app(), cluster, resize).actions

    assert action.command[-3:] == ("recommission", "hdfs", build.fqdn("datanode", 2))
    assert action.done_when is kd.DoneWhen.EXITS_ZERO


def test_other_roles_resize_freely(hooks: kd.Hooks) -> None:
    resize = kd.RoleResize(
        role="gateway", phase=kd.ResizePhase.BEFORE_SHRINK, current_members=2, desired_members=1
    )
    assert hooks.on_resize(build.app(), build.cluster(), resize).verdict is kd.ResizeVerdict.PROCEED


# -- readiness ----------------------------------------------------------------------------


def test_a_datanode_is_ready_once_the_namenode_reports_it_live(hooks: kd.Hooks) -> None:
    cluster = build.cluster()
    members = build.members(cluster)
    role = build.role_of(cluster, "datanode")

    action = hooks.member_readiness(
        build.app(), cluster, role, build.member("datanode", 1), members
    )

    assert action is not None
    assert action.member == "hadoop-example-namenode-0"
    assert action.done_when is kd.DoneWhen.CHECK_SUCCEEDS
    assert action.check[-3:] == ("is-registered", "hdfs", build.fqdn("datanode", 1))
    assert "${KD_GUEST_ROOT:-}/opt/kd-hadoop/bin/kd-hadoop" in action.check[2]
    assert all(c.isalnum() or c in "._-" for c in action.key), action.key
    assert build.fqdn("datanode", 1) in action.description


@pytest.mark.parametrize("role_id", ["namenode", "resourcemanager", "nodemanager"])
def test_members_without_a_datanode_are_ready_once_configured(
    hooks: kd.Hooks, role_id: str
) -> None:
    cluster = build.cluster()
    role = build.role_of(cluster, role_id)
    member = build.member(role_id)
    assert (
        hooks.member_readiness(build.app(), cluster, role, member, build.members(cluster)) is None
    )


def test_without_a_namenode_listed_a_datanode_is_not_held(hooks: kd.Hooks) -> None:
    cluster = build.cluster()
    role = build.role_of(cluster, "datanode")
    assert hooks.member_readiness(build.app(), cluster, role, build.member("datanode")) is None


# -- node failures --------------------------------------------------------------------------


def _down(role: str, problem: kd.NodeProblem, seconds: float, storage: bool) -> kd.NodeDown:
    return kd.NodeDown(
        member=build.member(role),
        node_name="node-7",
        problem=problem,
        down_for_seconds=seconds,
        has_persistent_storage=storage,
    )


@pytest.mark.parametrize(
    ("role", "problem", "seconds", "storage", "action"),
    [
        ("datanode", kd.NodeProblem.GONE, 0, True, kd.NodeDownAction.REPLACE_MEMBER),
        ("datanode", kd.NodeProblem.NOT_READY, 10, True, kd.NodeDownAction.WAIT),
        ("datanode", kd.NodeProblem.NOT_READY, 61, True, kd.NodeDownAction.REPLACE_MEMBER),
        ("namenode", kd.NodeProblem.UNREACHABLE, 31, True, kd.NodeDownAction.REPLACE_MEMBER),
        ("namenode", kd.NodeProblem.GONE, 0, True, kd.NodeDownAction.REPLACE_MEMBER),
        ("namenode", kd.NodeProblem.NOT_READY, 3600, False, kd.NodeDownAction.WAIT),
        ("resourcemanager", kd.NodeProblem.NOT_READY, 31, False, kd.NodeDownAction.REPLACE_MEMBER),
    ],
)
def test_node_down(
    hooks: kd.Hooks,
    role: str,
    problem: kd.NodeProblem,
    seconds: float,
    storage: bool,
    action: kd.NodeDownAction,
) -> None:
    decision = hooks.on_node_down(
        build.app(), build.cluster(), _down(role, problem, seconds, storage)
    )
    assert decision.action is action, decision.reason


def test_a_replaced_namenode_keeps_its_volume_and_says_so(hooks: kd.Hooks) -> None:
    event = _down("namenode", kd.NodeProblem.GONE, 0, True)
    decision = hooks.on_node_down(build.app(), build.cluster(), event)
    assert "keeping its volume" in decision.reason


def test_the_namenode_acts_sooner_than_the_cores_default(hooks: kd.Hooks) -> None:
    event = _down("namenode", kd.NodeProblem.NOT_READY, 10, True)
    decision = hooks.on_node_down(build.app(), build.cluster(), event)
    assert decision.action is kd.NodeDownAction.WAIT
    assert decision.retry_after_seconds == 20


# -- autoscale -------------------------------------------------------------------------------


def _scale(hooks: kd.Hooks, current: int, **metrics: float) -> int:
    request = kd.AutoscaleInput(
        role="nodemanager", current_members=current, min_members=1, max_members=10, metrics=metrics
    )
    return hooks.autoscale_policy(build.app(), build.cluster(), request)


def test_nodemanagers_grow_with_pending_containers(hooks: kd.Hooks) -> None:
    # An 8Gi NodeManager offers 6 GiB: six 1 GiB containers; 70 % target use.
    assert _scale(hooks, 2, **{PENDING_CONTAINERS: 12, ALLOCATED_CONTAINERS: 12}) == 6
    assert _scale(hooks, 2, **{PENDING_CONTAINERS: 1, ALLOCATED_CONTAINERS: 0}) == 3
    assert _scale(hooks, 9, **{PENDING_CONTAINERS: 500, ALLOCATED_CONTAINERS: 60}) == 10


def test_nodemanagers_shrink_one_at_a_time_when_idle(hooks: kd.Hooks) -> None:
    assert _scale(hooks, 5, **{PENDING_CONTAINERS: 0, ALLOCATED_CONTAINERS: 0}) == 4
    assert _scale(hooks, 2, **{PENDING_CONTAINERS: 0, ALLOCATED_CONTAINERS: 8}) == 2


def test_without_yarn_metrics_the_cores_default_decides(hooks: kd.Hooks) -> None:
    assert _scale(hooks, 3) == 3
    assert _scale(hooks, 2, cpu_utilization=1.4) == 4


def test_metrics_are_read_from_the_resourcemanagers_answer() -> None:
    answer = {
        "clusterMetrics": {"containersPending": 7, "containersAllocated": 3, "appsPending": 1}
    }
    assert metrics_from_resourcemanager(answer) == {
        PENDING_CONTAINERS: 7.0,
        ALLOCATED_CONTAINERS: 3.0,
        "yarn_apps_pending": 1.0,
    }
