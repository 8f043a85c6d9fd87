"""Decisions: what is wrong with a cluster, and what to do on resize, node loss and load."""

from __future__ import annotations

import math
from collections.abc import Mapping

from kd_spark.confgen import HELPER
from kd_spark.settings import (
    EXECUTOR_CORES,
    EXECUTOR_GPUS,
    EXECUTOR_MEMORY,
    SettingError,
    SparkSettings,
)
from kd_spark.topology import (
    GPU,
    Kind,
    format_mb,
    is_spark_layout,
    kind_of,
    least_worker_memory_mb,
    member_count,
    role_members,
    worker_offer,
)
from kubedirector_core import (
    AutoscaleInput,
    ClusterRole,
    DoneWhen,
    ExecAction,
    KubeDirectorApp,
    KubeDirectorCluster,
    NodeDown,
    NodeDownDecision,
    NodeProblem,
    Problem,
    ResizeDecision,
    ResizePhase,
    RoleResize,
)

#: How long a worker may take to hand over its executors and blocks.
DECOMMISSION_TIMEOUT_SECONDS = 1800.0
DECOMMISSION_POLL_SECONDS = 5.0
MASTER_GRACE_SECONDS = 30.0
WORKER_GRACE_SECONDS = 60.0

#: Metric names the autoscale policy reads (see :func:`metrics_from_master_status`).
CORES_USED = "spark_cores_used"
CORES_FREE = "spark_cores_free"
WAITING_APPS = "spark_waiting_apps"

#: Roles of these kinds run at most one member.
_SINGLETONS = (Kind.HISTORY, Kind.NOTEBOOK)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def app_problems(app: KubeDirectorApp) -> list[Problem]:
    """What is wrong with a Spark app definition (nothing for other layouts)."""
    if not is_spark_layout(app):
        return []
    problems = []
    try:
        SparkSettings.of(app, None)
    except SettingError as error:
        problems.append(error.as_problem())
    for index, role in enumerate(app.spec.roles):
        if kind_of(role.id) is Kind.MASTER and role.cardinality != "1":
            problems.append(
                Problem(
                    f"spec.roles[{index}].cardinality",
                    f"a Spark cluster has exactly one master: set the cardinality of role "
                    f'{role.id} to "1", not {role.cardinality!r}',
                )
            )
    return problems


def cluster_problems(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    """What is wrong with a cluster of a Spark app (nothing for other layouts)."""
    if not is_spark_layout(app):
        return []
    try:
        settings = SparkSettings.of(app, cluster)
    except SettingError as error:
        return [error.as_problem()]
    problems = _cardinality_problems(app, cluster)
    for index, role in enumerate(cluster.spec.roles):
        if kind_of(role.id) is Kind.WORKER and member_count(app, role):
            problems += _worker_problems(index, role, settings)
    return problems


def _cardinality_problems(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    masters = [(i, r) for i, r in enumerate(cluster.spec.roles) if kind_of(r.id) is Kind.MASTER]
    if not masters:
        return [Problem("spec.roles", "a Spark cluster needs a master: add role master")]
    problems = []
    for index, role in masters:
        if member_count(app, role) != 1:
            problems.append(
                Problem(
                    f"spec.roles[{index}].members",
                    f"a Spark cluster has exactly one master: set members of role {role.id} "
                    f"to 1, not {member_count(app, role)}",
                )
            )
    for index, role in enumerate(cluster.spec.roles):
        kind = kind_of(role.id)
        if kind in _SINGLETONS and member_count(app, role) > 1:
            problems.append(
                Problem(
                    f"spec.roles[{index}].members",
                    f"role {role.id} runs at most one {kind} member, not {member_count(app, role)}",
                )
            )
    return problems


def _worker_problems(index: int, role: ClusterRole, settings: SparkSettings) -> list[Problem]:
    offer = worker_offer(role)
    limits = f"spec.roles[{index}].resources.limits"
    problems = []
    if offer.memory_mb < settings.executor_memory_mb:
        least = least_worker_memory_mb(settings.executor_memory_mb)
        problems.append(
            Problem(
                f"{limits}.memory",
                f"a {role.id} member offers executors {offer.memory_mb} MiB after its own heap "
                f"and overhead, less than {EXECUTOR_MEMORY}={settings.executor_memory}: give "
                f"it at least {format_mb(least)} or lower {EXECUTOR_MEMORY}",
            )
        )
    if offer.cores < settings.executor_cores:
        problems.append(
            Problem(
                f"{limits}.cpu",
                f"a {role.id} member has {offer.cores} CPU(s), fewer than "
                f"{EXECUTOR_CORES}={settings.executor_cores}: raise its cpu limit",
            )
        )
    if settings.executor_gpus and offer.gpus < settings.executor_gpus:
        problems.append(
            Problem(
                f"{limits}.{GPU}",
                f"a {role.id} member has {offer.gpus} GPU(s), fewer than "
                f"{EXECUTOR_GPUS}={settings.executor_gpus}: request {GPU}",
            )
        )
    return problems


# ---------------------------------------------------------------------------
# Resize: decommission leaving workers gracefully
# ---------------------------------------------------------------------------


def helper_command(*arguments: str) -> tuple[str, ...]:
    """Run the kd-spark helper in a member, under its guest root (``KD_GUEST_ROOT``)."""
    return ("sh", "-c", f'exec "${{KD_GUEST_ROOT:-}}{HELPER}" "$@"', "kd-spark", *arguments)


def resize_decision(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
) -> ResizeDecision | None:
    """Before workers leave, each hands its executors and blocks over and stops."""
    if resize.is_noop:
        return ResizeDecision.proceed()
    if not is_spark_layout(app) or kind_of(resize.role) is not Kind.WORKER:
        return None
    if resize.phase is not ResizePhase.BEFORE_SHRINK:
        return None
    leaving = resize.leaving or role_members(
        cluster, resize.role, range(resize.desired_members, resize.current_members), None
    )
    generation = cluster.metadata.generation or 0
    actions = [
        ExecAction(
            key=f"kd-spark.decommission.g{generation}.{member.name}",
            member=member.name,
            command=helper_command("decommission"),
            done_when=DoneWhen.CHECK_SUCCEEDS,
            check=helper_command("is-decommissioned"),
            timeout_seconds=DECOMMISSION_TIMEOUT_SECONDS,
            poll_seconds=DECOMMISSION_POLL_SECONDS,
            description=f"decommission Spark worker {member.name}",
        )
        for member in leaving
    ]
    if not actions:
        return ResizeDecision.proceed()
    names = ", ".join(member.name for member in leaving)
    return ResizeDecision.wait(*actions, reason=f"decommissioning Spark workers {names}")


# ---------------------------------------------------------------------------
# Node failures
# ---------------------------------------------------------------------------


def node_down_decision(app: KubeDirectorApp, event: NodeDown) -> NodeDownDecision | None:
    """Replace a lost master within 30 s and a lost worker within 60 s."""
    kind = kind_of(event.member.role)
    if not is_spark_layout(app) or kind not in (Kind.MASTER, Kind.WORKER):
        return None
    grace = MASTER_GRACE_SECONDS if kind is Kind.MASTER else WORKER_GRACE_SECONDS
    what = f"Spark {kind} {event.member.name}"
    if event.problem is NodeProblem.GONE or event.down_for_seconds >= grace:
        return NodeDownDecision.replace_member(
            f"{what} is replaced on another node (node {event.node_name} {event.problem}); "
            "Spark reschedules its tasks"
        )
    return NodeDownDecision.wait(
        f"node {event.node_name} of {what} is {event.problem}; replacing it after {grace:.0f} s",
        max(1.0, grace - event.down_for_seconds),
    )


# ---------------------------------------------------------------------------
# Autoscaling workers from the master's status
# ---------------------------------------------------------------------------


def metrics_from_master_status(status: Mapping[str, object]) -> dict[str, float]:
    """The autoscale metrics in a Spark master's ``/json`` status."""
    metrics: dict[str, float] = {}
    cores, used = status.get("cores"), status.get("coresused")
    if isinstance(cores, int | float) and isinstance(used, int | float):
        metrics[CORES_USED] = float(used)
        metrics[CORES_FREE] = float(cores - used)
    apps = status.get("activeapps")
    if isinstance(apps, list):
        waiting = [a for a in apps if isinstance(a, Mapping) and a.get("state") == "WAITING"]
        metrics[WAITING_APPS] = float(len(waiting))
    return metrics


def autoscale_workers(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
) -> int | None:
    """Workers enough for the cores in use plus the waiting apps', at the target use.

    A waiting app counts for ``spark.cores.max`` cores (one worker's cores when
    unset). Grows by at least one worker while apps wait; shrinks one worker
    at a time (each leaves gracefully). Abstains without the master's metrics.
    """
    role = cluster.role(request.role)
    if not is_spark_layout(app) or role is None or kind_of(role.id) is not Kind.WORKER:
        return None
    used = request.metrics.get(CORES_USED)
    waiting = request.metrics.get(WAITING_APPS)
    if used is None and waiting is None:
        return None
    settings = SparkSettings.of(app, cluster)
    worker_cores = worker_offer(role).cores
    app_cores = settings.cores_max or worker_cores
    wanted = (used or 0.0) + (waiting or 0.0) * app_cores
    desired = math.ceil(wanted / (worker_cores * request.target_utilization))
    current = request.current_members
    if waiting:
        desired = max(desired, current + 1)
    elif desired < current:
        desired = current - 1
    return request.clamp(desired)
