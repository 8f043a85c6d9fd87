"""TensorFlow's rules for admission, resizes, lost nodes and autoscaling.

Synchronous TensorFlow training (MultiWorkerMirroredStrategy, and a
ParameterServerStrategy's chief and parameter servers) fixes its cluster when it
starts: a task that disappears stalls every other task, and a new membership
means restarting the whole group from the last checkpoint. Only workers of an
*elastic* job (the ``elastic`` setting) may come and go on their own.
"""

from __future__ import annotations

import math

from kd_tensorflow.settings import ClusterSettings
from kd_tensorflow.tfconfig import (
    CLUSTER_TASK_TYPES,
    cluster_spec,
    membership_digest,
    restart_command,
    role_members,
    training_tasks,
)
from kubedirector_core import (
    AutoscaleInput,
    ExecAction,
    GangPolicy,
    KubeDirectorApp,
    KubeDirectorCluster,
    NodeDown,
    NodeDownDecision,
    NodeProblem,
    ResizeDecision,
    ResizePhase,
    RoleResize,
)

#: The metric an elastic worker pool is steered by: mean GPU use, 0..1.
GPU_UTILIZATION = "gpu_utilization"
#: Deviations from the target smaller than this leave the worker count alone.
AUTOSCALE_TOLERANCE = 0.1
#: How often, at most, a waiting node-down policy asks to be called again.
NODE_DOWN_RECHECK_SECONDS = 15.0


def gang_policy(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, settings: ClusterSettings
) -> GangPolicy | None:
    """Every member of every role, admitted together (elastic: the minimum of workers)."""
    if not settings.gang:
        return None
    minimum: dict[str, int] = {}
    for role in cluster.spec.roles:
        count = role_members(app, cluster, role.id)
        if role.id == "worker" and settings.elastic and settings.min_workers is not None:
            count = min(count, settings.min_workers)
        if count > 0:
            minimum[role.id] = count
    if not minimum:
        return None
    return GangPolicy(min_members=minimum, timeout_seconds=settings.gang_timeout_seconds)


def _restarts_group(role: str, settings: ClusterSettings) -> bool:
    """Whether losing or resizing a member of ``role`` restarts the training group."""
    if role not in CLUSTER_TASK_TYPES:
        return False  # the evaluator is outside the training cluster
    return not (settings.elastic and role == "worker")


def resize_decision(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    resize: RoleResize,
    settings: ClusterSettings,
) -> ResizeDecision | None:
    """Restart the members that stay, once, when a non-elastic membership changes.

    The core rewrites every member's TF_CONFIG when the membership changes; the
    tasks that keep running must then restart to read it. Before a shrink they
    are asked to restart for the coming membership (the app's launcher starts
    the task once TF_CONFIG carries it); after a grow, the members that were
    already there are. Joining members start with the new TF_CONFIG anyway.
    """
    if resize.is_noop or not _restarts_group(resize.role, settings):
        return ResizeDecision.proceed()
    hint = next(iter(resize.joining or resize.leaving), None)
    tasks = training_tasks(app, cluster, hint)
    digest = membership_digest(cluster_spec(tasks))
    skip = {member.name for member in (*resize.joining, *resize.leaving)}
    actions = [
        ExecAction(
            key=f"tensorflow-restart:{digest}:{task.member}",
            member=task.member,
            command=restart_command(digest),
            description=f"restart {task.type} {task.index} for the new TF_CONFIG",
        )
        for task in tasks
        if task.member not in skip
    ]
    if not actions:
        return ResizeDecision.proceed()
    verb = "shrinks" if resize.phase is ResizePhase.BEFORE_SHRINK else "grew"
    return ResizeDecision.wait(
        *actions,
        reason=f"role {resize.role} {verb} from {resize.current_members} to "
        f"{resize.desired_members}: TensorFlow restarts the training group "
        f"with the new TF_CONFIG ({digest})",
    )


def node_down_decision(event: NodeDown, settings: ClusterSettings) -> NodeDownDecision | None:
    """Restart the training group for a lost task; replace an elastic worker or evaluator."""
    member = event.member
    if member.role not in (*CLUSTER_TASK_TYPES, "evaluator"):
        return None
    what = f"{member.role} {member.name} on node {event.node_name} ({event.problem.value})"
    remaining = settings.node_down_grace_seconds - event.down_for_seconds
    if event.problem is not NodeProblem.GONE and remaining > 0:
        return NodeDownDecision.wait(
            f"{what}: waiting {remaining:.0f}s more for the node before acting",
            retry_after_seconds=min(remaining, NODE_DOWN_RECHECK_SECONDS),
        )
    if not _restarts_group(member.role, settings):
        why = "elastic training" if member.role == "worker" else "outside the training cluster"
        return NodeDownDecision.replace_member(f"{what}: replacing it alone ({why})")
    return NodeDownDecision.restart_cluster(
        f"{what}: TensorFlow cannot continue without it; restarting the training group "
        "from its last checkpoint"
    )


def autoscale(request: AutoscaleInput, settings: ClusterSettings) -> int | None:
    """Only elastic workers scale, steered by GPU use; everything else keeps its count."""
    if request.role != "worker" or not settings.elastic:
        return request.current_members
    low = max(request.min_members, settings.min_workers or 0)
    high = min(request.max_members, settings.max_workers or request.max_members)
    utilization = request.metrics.get(GPU_UTILIZATION)
    if utilization is None:
        return None  # the core's default steers by CPU instead
    current = request.current_members
    ratio = utilization / request.target_utilization
    desired = current if current == 0 or abs(ratio - 1) <= AUTOSCALE_TOLERANCE else None
    if desired is None:
        desired = math.ceil(current * ratio)
    return max(low, min(high, desired))
