"""Gang admission, resizes, lost nodes and autoscaling, as TensorFlow needs them."""

from __future__ import annotations

from typing import Any

import pytest
import tf_builders as tf

import kubedirector_core as kd

ELASTIC = {
    "tensorflow.kubedirector.io/elastic": "true",
    "tensorflow.kubedirector.io/elastic-min-workers": "2",
    "tensorflow.kubedirector.io/elastic-max-workers": "8",
}


def _cluster(**annotations: str) -> kd.KubeDirectorCluster:
    document: dict[str, Any] = tf.wire()
    document["metadata"]["annotations"].update(annotations)
    return tf.cluster(document)


def _elastic() -> kd.KubeDirectorCluster:
    return _cluster(**ELASTIC)


# -- gang admission ------------------------------------------------------------


def test_every_member_of_a_training_cluster_is_admitted_together() -> None:
    policy = tf.hooks().gang_policy(tf.app(), tf.cluster())

    assert policy is not None
    assert dict(policy.min_members) == {"chief": 1, "worker": 4}
    assert policy.timeout_seconds == 600


def test_gang_admission_can_be_switched_off() -> None:
    off = _cluster(**{"tensorflow.kubedirector.io/gang": "false"})

    assert tf.hooks().gang_policy(tf.app(), off) is None


def test_an_elastic_gang_waits_only_for_the_minimum_of_workers() -> None:
    policy = tf.hooks().gang_policy(tf.app(), _elastic())

    assert policy is not None
    assert dict(policy.min_members) == {"chief": 1, "worker": 2}


def test_the_gang_timeout_is_a_setting() -> None:
    policy = tf.hooks().gang_policy(
        tf.app(), _cluster(**{"tensorflow.kubedirector.io/gang-timeout-seconds": "90"})
    )

    assert policy is not None
    assert policy.timeout_seconds == 90


# -- resize ----------------------------------------------------------------------


def _grow(the_cluster: kd.KubeDirectorCluster, role: str, before: int) -> kd.RoleResize:
    after = tf.role_doc(the_cluster.to_wire(), role)["members"]
    return kd.RoleResize(
        role=role,
        phase=kd.ResizePhase.AFTER_GROW,
        current_members=before,
        desired_members=after,
        joining=tuple(tf.member(the_cluster, role, i) for i in range(before, after)),
    )


def test_growing_workers_restarts_the_members_that_were_there_once_each() -> None:
    the_cluster = tf.cluster()  # 4 workers, grown from 2
    decision = tf.hooks().on_resize(tf.app(), the_cluster, _grow(the_cluster, "worker", 2))

    assert decision.verdict is kd.ResizeVerdict.WAIT
    assert [a.member for a in decision.actions] == [
        "resnet-gpu-chief-0",
        "resnet-gpu-worker-0",
        "resnet-gpu-worker-1",
    ]
    digests = {a.key.split(":")[1] for a in decision.actions}
    assert len(digests) == 1
    assert all(a.command[-1] in digests for a in decision.actions)
    assert "restarts the training group" in decision.reason


def test_the_restart_keys_name_the_membership_so_each_runs_once() -> None:
    the_cluster = tf.cluster()
    first = tf.hooks().on_resize(tf.app(), the_cluster, _grow(the_cluster, "worker", 2))
    again = tf.hooks().on_resize(tf.app(), the_cluster, _grow(the_cluster, "worker", 2))

    assert [a.key for a in first.actions] == [a.key for a in again.actions]


def test_shrinking_workers_restarts_the_members_that_stay() -> None:
    the_cluster = tf.cluster()  # 4 workers, shrinking from 5
    resize = kd.RoleResize(
        role="worker",
        phase=kd.ResizePhase.BEFORE_SHRINK,
        current_members=5,
        desired_members=4,
        leaving=(tf.member(the_cluster, "worker", 4),),
    )
    decision = tf.hooks().on_resize(tf.app(), the_cluster, resize)

    assert decision.verdict is kd.ResizeVerdict.WAIT
    assert [a.member for a in decision.actions] == ["resnet-gpu-chief-0"] + [
        f"resnet-gpu-worker-{i}" for i in range(4)
    ]


def test_elastic_workers_come_and_go_without_a_restart() -> None:
    the_cluster = _elastic()

    decision = tf.hooks().on_resize(tf.app(), the_cluster, _grow(the_cluster, "worker", 2))

    assert decision.verdict is kd.ResizeVerdict.PROCEED


# -- lost nodes --------------------------------------------------------------------


def _down(
    role: str, problem: kd.NodeProblem = kd.NodeProblem.GONE, seconds: float = 1.0
) -> kd.NodeDown:
    return kd.NodeDown(
        member=tf.member(tf.cluster(), role, 0),
        node_name="gpu-node-3",
        problem=problem,
        down_for_seconds=seconds,
        has_persistent_storage=False,
    )


def test_a_lost_worker_restarts_the_training_group() -> None:
    decision = tf.hooks().on_node_down(tf.app(), tf.cluster(), _down("worker"))

    assert decision.action is kd.NodeDownAction.RESTART_CLUSTER
    assert "resnet-gpu-worker-0" in decision.reason


def test_a_lost_elastic_worker_is_replaced_alone() -> None:
    decision = tf.hooks().on_node_down(tf.app(), _elastic(), _down("worker"))

    assert decision.action is kd.NodeDownAction.REPLACE_MEMBER
    assert "elastic" in decision.reason


@pytest.mark.parametrize("role", ["chief", "ps"])
def test_a_lost_chief_or_ps_restarts_the_group_even_when_elastic(role: str) -> None:
    decision = tf.hooks().on_node_down(tf.app(), _elastic(), _down(role))

    assert decision.action is kd.NodeDownAction.RESTART_CLUSTER


def test_a_lost_evaluator_is_replaced_alone() -> None:
    decision = tf.hooks().on_node_down(tf.app(), tf.cluster(), _down("evaluator"))

    assert decision.action is kd.NodeDownAction.REPLACE_MEMBER


def test_a_not_ready_node_is_waited_for_during_the_grace_period() -> None:
    early = tf.hooks().on_node_down(
        tf.app(), tf.cluster(), _down("worker", kd.NodeProblem.NOT_READY, seconds=20)
    )
    late = tf.hooks().on_node_down(
        tf.app(), tf.cluster(), _down("worker", kd.NodeProblem.NOT_READY, seconds=61)
    )

    assert early.action is kd.NodeDownAction.WAIT
    assert early.retry_after_seconds == 15
    assert late.action is kd.NodeDownAction.RESTART_CLUSTER


def test_members_of_other_roles_get_the_cores_default() -> None:
    decision = tf.hooks().on_node_down(tf.app(), tf.cluster(), _down("tensorboard"))

    assert decision.action is kd.NodeDownAction.REPLACE_MEMBER
    assert decision.reason == "node gpu-node-3 was deleted"


# -- autoscaling -------------------------------------------------------------------


def _scale(role: str, current: int, **metrics: float) -> kd.AutoscaleInput:
    return kd.AutoscaleInput(
        role=role, current_members=current, min_members=1, max_members=10, metrics=metrics
    )


def test_elastic_workers_scale_with_gpu_use_within_their_bounds() -> None:
    hooks, app, the_cluster = tf.hooks(), tf.app(), _elastic()

    busy = hooks.autoscale_policy(app, the_cluster, _scale("worker", 4, gpu_utilization=1.0))
    idle = hooks.autoscale_policy(app, the_cluster, _scale("worker", 4, gpu_utilization=0.1))
    steady = hooks.autoscale_policy(app, the_cluster, _scale("worker", 4, gpu_utilization=0.72))

    assert busy == 6
    assert idle == 2  # the elastic minimum, above the role's own bound of 1
    assert steady == 4


def test_a_non_elastic_job_is_never_autoscaled() -> None:
    decided = tf.hooks().autoscale_policy(
        tf.app(), tf.cluster(), _scale("worker", 4, cpu_utilization=1.0)
    )

    assert decided == 4


def test_elastic_workers_without_gpu_metrics_follow_the_cores_cpu_policy() -> None:
    decided = tf.hooks().autoscale_policy(
        tf.app(), _elastic(), _scale("worker", 4, cpu_utilization=1.4)
    )

    assert decided == 8


def test_elastic_bounds_are_checked_against_the_workers_asked_for() -> None:
    document: dict[str, Any] = tf.wire()
    document["metadata"]["annotations"].update(ELASTIC)
    tf.role_doc(document, "worker")["members"] = 9

    [problem] = tf.hooks().validate_cluster(tf.cluster(document), tf.app(), None)

    assert problem.path == "spec.roles[1].members"
    assert "outside the elastic bounds 2..8" in problem.message
