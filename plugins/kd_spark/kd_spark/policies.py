"""Decisions: what is wrong with a cluster, and what to do on resize, node loss and load."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kd_spark.confgen import HELPER, MASTER_WEBUI_PORT
from kd_spark.settings import EXECUTOR_CORES, EXECUTOR_GPUS, EXECUTOR_MEMORY, SparkSettings
from kd_spark.topology import (
    GPU,
    Kind,
    is_spark_layout,
    kind_of,
    least_worker_memory_mb,
    worker_offer,
)
from kubedirector_core import (
    AutoscaleInput,
    ClusterRole,
    DoneWhen,
    ExecAction,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MetricsEndpoint,
    MetricsReading,
    NodeDown,
    NodeDownDecision,
    Problem,
    ResizeDecision,
    ResizePhase,
    RoleResize,
    SettingError,
    format_mib,
    guest_command,
    hostname_of,
    json_body,
    replace_after_grace,
    requested_members,
    scale_to_demand,
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
ALIVE_WORKERS = "spark_alive_workers"

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
        if kind_of(role.id) is Kind.WORKER and requested_members(app, role):
            problems += _worker_problems(index, role, settings)
    return problems


def _cardinality_problems(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    masters = [(i, r) for i, r in enumerate(cluster.spec.roles) if kind_of(r.id) is Kind.MASTER]
    if not masters:
        return [Problem("spec.roles", "a Spark cluster needs a master: add role master")]
    problems = []
    for index, role in masters:
        if requested_members(app, role) != 1:
            problems.append(
                Problem(
                    f"spec.roles[{index}].members",
                    f"a Spark cluster has exactly one master: set members of role {role.id} "
                    f"to 1, not {requested_members(app, role)}",
                )
            )
    for index, role in enumerate(cluster.spec.roles):
        kind, count = kind_of(role.id), requested_members(app, role)
        if kind in _SINGLETONS and count > 1:
            problems.append(
                Problem(
                    f"spec.roles[{index}].members",
                    f"role {role.id} runs at most one {kind} member, not {count}",
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
                f"it at least {format_mib(least)} or lower {EXECUTOR_MEMORY}",
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
    leaving = resize.leaving
    generation = cluster.metadata.generation or 0
    actions = [
        ExecAction(
            # The node id is new for every member the core creates: a worker that
            # left and came back (autoscaling, same generation) is decommissioned again.
            key=f"kd-spark.decommission.g{generation}.{member.name}-n{member.node_id}",
            member=member.name,
            command=guest_command(HELPER, "decommission"),
            done_when=DoneWhen.CHECK_SUCCEEDS,
            check=guest_command(HELPER, "is-decommissioned"),
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
    return replace_after_grace(
        event,
        grace,
        f"Spark {kind} {event.member.name} is replaced on another node; "
        "Spark reschedules its tasks",
    )


# ---------------------------------------------------------------------------
# Autoscaling workers from the master's status
# ---------------------------------------------------------------------------


def metrics_endpoint(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role: str, members: Sequence[Member]
) -> MetricsEndpoint | None:
    """For worker roles, the master's JSON status: ``http://<master fqdn>:8080/json/``.

    Abstains for other roles, and while the master is not a member yet.
    """
    if not is_spark_layout(app) or kind_of(role) is not Kind.WORKER:
        return None
    masters = [spec.id for spec in cluster.spec.roles if kind_of(spec.id) is Kind.MASTER]
    master = hostname_of(members, masters)
    return MetricsEndpoint(url=f"http://{master}:{MASTER_WEBUI_PORT}/json/") if master else None


def read_master_status(app: KubeDirectorApp, reading: MetricsReading) -> dict[str, float] | None:
    """The autoscale metrics in the master status the core fetched for a worker role.

    Raises ValueError naming the URL when the body is not a Spark master's
    JSON status (not JSON, or without numeric ``cores`` and ``coresused``).
    """
    if not is_spark_layout(app) or kind_of(reading.role) is not Kind.WORKER:
        return None
    fix = "point autoscale.metricSource.url at the master's web UI /json/"
    status = json_body(reading, "the Spark master status", fix)
    metrics = metrics_from_master_status(status) if isinstance(status, Mapping) else {}
    if CORES_USED not in metrics:
        raise ValueError(
            f"the answer from {reading.url} is not a Spark master status: it has no numeric "
            f"'cores' and 'coresused'; {fix}"
        )
    return metrics


def _number(value: object) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def metrics_from_master_status(status: Mapping[str, object]) -> dict[str, float]:
    """The autoscale metrics in a Spark master's ``/json/`` status.

    ``spark_cores_used`` and ``spark_cores_free`` from ``coresused`` and
    ``cores``; ``spark_alive_workers`` from ``aliveworkers``;
    ``spark_waiting_apps``, the ``activeapps`` in state ``WAITING``.
    """
    metrics: dict[str, float] = {}
    cores, used = _number(status.get("cores")), _number(status.get("coresused"))
    if cores is not None and used is not None:
        metrics[CORES_USED] = used
        metrics[CORES_FREE] = cores - used
    alive = _number(status.get("aliveworkers"))
    if alive is not None:
        metrics[ALIVE_WORKERS] = alive
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
    demand = (used or 0.0) + (waiting or 0.0) * app_cores
    return scale_to_demand(request, demand, worker_cores, backlog=bool(waiting))
