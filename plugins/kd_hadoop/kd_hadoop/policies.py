"""Decisions: what is wrong with a cluster, when a member is ready, what to do on resize,
node loss and load.

Pure functions of the app, the cluster and the hook's request; ``plugin.py``
only wires them to the hooks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from kd_hadoop.confgen import HELPER, RESOURCEMANAGER_HTTP_PORT
from kd_hadoop.settings import REPLICATION, HadoopSettings, annotation_path
from kd_hadoop.topology import (
    DATANODE,
    NAMENODE,
    NODEMANAGER,
    RESOURCEMANAGER,
    daemons_of,
    first,
    is_hadoop_layout,
    least_nodemanager_memory_mb,
    running,
    size_member,
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
    NodeProblem,
    Problem,
    ResizeDecision,
    ResizePhase,
    RoleResize,
    SettingError,
    Severity,
    format_mib,
    guest_command,
    hostname_of,
    json_body,
    memory_mib,
    replace_after_grace,
    requested_members,
    scale_to_demand,
    whole_cpus,
)

#: How long a decommission may take before the operator reports it (HDFS moves data).
DECOMMISSION_TIMEOUT_SECONDS = 6 * 3600.0
DECOMMISSION_POLL_SECONDS = 10.0

#: How long a new DataNode may take to register with the NameNode, and how often to look.
REGISTRATION_TIMEOUT_SECONDS = 600.0
REGISTRATION_POLL_SECONDS = 5.0

#: Keys name their members up to this length, else a digest (the guest allows 200 characters).
_KEY_NAMES_LIMIT = 150

#: Grace periods before replacing a member whose node is NotReady or unreachable.
MASTER_GRACE_SECONDS = 30.0
WORKER_GRACE_SECONDS = 60.0

#: Metric names the autoscale policy reads (see :func:`metrics_from_resourcemanager`).
PENDING_CONTAINERS = "yarn_containers_pending"
ALLOCATED_CONTAINERS = "yarn_containers_allocated"
PENDING_APPS = "yarn_apps_pending"
#: The ResourceManager's REST path of the cluster metrics.
CLUSTER_METRICS_PATH = "/ws/v1/cluster/metrics"


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def app_problems(app: KubeDirectorApp) -> list[Problem]:
    """What is wrong with a Hadoop app definition (nothing for other layouts)."""
    if not is_hadoop_layout(app):
        return []
    problems = []
    try:
        HadoopSettings.of(app, None)
    except SettingError as error:
        problems.append(error.as_problem())
    for index, role in enumerate(app.spec.roles):
        if NAMENODE in daemons_of(role.id) and role.cardinality != "1":
            problems.append(
                Problem(
                    f"spec.roles[{index}].cardinality",
                    f"HDFS runs exactly one NameNode: set the cardinality of role {role.id} "
                    f'to "1", not {role.cardinality!r}',
                )
            )
    return problems


def cluster_problems(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    """What is wrong with a cluster of a Hadoop app (nothing for other layouts)."""
    if not is_hadoop_layout(app):
        return []
    try:
        settings = HadoopSettings.of(app, cluster)
    except SettingError as error:
        return [error.as_problem()]
    return [
        *_namenode_problems(app, cluster),
        *_replication_problems(app, cluster, settings),
        *_yarn_problems(app, cluster, settings),
    ]


def _indexed(cluster: KubeDirectorCluster, daemon: str) -> list[tuple[int, ClusterRole]]:
    return [(i, role) for i, role in enumerate(cluster.spec.roles) if daemon in daemons_of(role.id)]


def _namenode_problems(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    roles = _indexed(cluster, NAMENODE)
    if not roles:
        return [Problem("spec.roles", "HDFS needs a NameNode: add role namenode with 1 member")]
    problems = []
    for index, role in roles:
        count = requested_members(app, role)
        if count != 1:
            problems.append(
                Problem(
                    f"spec.roles[{index}].members",
                    f"HDFS runs exactly one NameNode: set members of role {role.id} to 1, "
                    f"not {count}",
                )
            )
        if role.storage is None:
            problems.append(
                Problem(
                    f"spec.roles[{index}].storage",
                    "the NameNode keeps the file system's metadata in /data: without storage "
                    "it is lost when the pod is replaced; give role namenode a storage size",
                    Severity.WARNING,
                )
            )
    return problems


def _replication_problems(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, settings: HadoopSettings
) -> list[Problem]:
    roles = _indexed(cluster, DATANODE)
    total = sum(requested_members(app, role) for _, role in roles)
    if total >= settings.replication:
        return []
    path = f"spec.roles[{roles[0][0]}].members" if roles else "spec.roles"
    return [
        Problem(
            path,
            f"{total} DataNode(s) cannot hold {settings.replication} replicas of each block "
            f"({REPLICATION}={settings.replication}): run at least {settings.replication} "
            f"DataNodes, or lower the replication with the annotation "
            f"{annotation_path(REPLICATION).removeprefix('metadata.annotations.')}",
        )
    ]


def _yarn_problems(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, settings: HadoopSettings
) -> list[Problem]:
    problems = []
    nodemanagers = [(i, r) for i, r in _indexed(cluster, NODEMANAGER) if requested_members(app, r)]
    managers = _indexed(cluster, RESOURCEMANAGER)
    managed = sum(requested_members(app, role) for _, role in managers)
    if nodemanagers and managed != 1:
        path = f"spec.roles[{managers[0][0]}].members" if managers else "spec.roles"
        message = f"YARN needs exactly one ResourceManager for its NodeManagers, not {managed}"
        problems.append(Problem(path, message))
    for index, role in nodemanagers:
        daemons = daemons_of(role.id)
        offer = size_member(daemons, memory_mib(role), whole_cpus(role), settings.min_allocation_mb)
        if offer.yarn_memory_mb < settings.min_allocation_mb:
            least = least_nodemanager_memory_mb(daemons, settings.min_allocation_mb)
            problems.append(
                Problem(
                    f"spec.roles[{index}].resources.limits.memory",
                    f"a {role.id} member with {format_mib(memory_mib(role))} leaves YARN "
                    f"{offer.yarn_memory_mb} MiB after its daemons' heaps, less than "
                    f"yarn.scheduler.minimum-allocation-mb={settings.min_allocation_mb}: "
                    f"give it at least {format_mib(least)}",
                )
            )
    return problems


# ---------------------------------------------------------------------------
# Readiness: a DataNode is ready once the NameNode reports it live
# ---------------------------------------------------------------------------


def member_readiness(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    member: Member,
    members: Sequence[Member],
) -> ExecAction | None:
    """Hold a set-up DataNode until the NameNode lists it among its live DataNodes.

    The check runs in the NameNode (``kd-hadoop is-registered hdfs HOST``,
    which reads ``hdfs dfsadmin -report -live``), so the cluster is not
    configured, and other members are not told about a new DataNode, before
    HDFS can use it. Other members, and clusters without a NameNode listed,
    are ready once configured.
    """
    if not is_hadoop_layout(app) or DATANODE not in daemons_of(member.role):
        return None
    namenode = first(members, NAMENODE)
    if namenode is None:
        return None
    return ExecAction(
        key=action_key("registered-hdfs", cluster.metadata.generation or 0, [member]),
        member=namenode.name,
        command=("true",),
        done_when=DoneWhen.CHECK_SUCCEEDS,
        check=guest_command(HELPER, "is-registered", "hdfs", member.hostname),
        timeout_seconds=REGISTRATION_TIMEOUT_SECONDS,
        poll_seconds=REGISTRATION_POLL_SECONDS,
        description=f"the NameNode reports DataNode {member.hostname} live",
    )


# ---------------------------------------------------------------------------
# Resize: decommission before a shrink, recommission after a grow
# ---------------------------------------------------------------------------


def resize_decision(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
) -> ResizeDecision | None:
    """Decommission leaving DataNodes/NodeManagers first; refuse to go below replication."""
    if resize.is_noop:
        return ResizeDecision.proceed()
    daemons = daemons_of(resize.role)
    if not is_hadoop_layout(app) or not ({DATANODE, NODEMANAGER} & set(daemons)):
        return None
    if resize.phase is ResizePhase.BEFORE_SHRINK:
        return _before_shrink(cluster, resize, HadoopSettings.of(app, cluster))
    return _after_grow(cluster, resize)


def _before_shrink(
    cluster: KubeDirectorCluster, resize: RoleResize, settings: HadoopSettings
) -> ResizeDecision:
    daemons = daemons_of(resize.role)
    if DATANODE in daemons:
        # resize.members is the cluster once the resize is done.
        remaining = len(running(resize.members, DATANODE))
        if remaining < settings.replication:
            return ResizeDecision.refuse(
                f"shrinking role {resize.role} to {resize.desired_members} would leave "
                f"{remaining} DataNode(s) for {settings.replication} replicas of each block "
                f"({REPLICATION}={settings.replication}); HDFS would lose redundancy"
            )
    actions = _commission_actions(cluster, "decommission", daemons, resize.leaving, resize.members)
    if not actions:
        return ResizeDecision.proceed()
    names = ", ".join(member.name for member in resize.leaving)
    return ResizeDecision.wait(*actions, reason=f"decommissioning {names} before removing them")


def _after_grow(cluster: KubeDirectorCluster, resize: RoleResize) -> ResizeDecision:
    daemons = daemons_of(resize.role)
    actions = _commission_actions(cluster, "recommission", daemons, resize.joining, resize.members)
    if not actions:
        return ResizeDecision.proceed()
    names = ", ".join(member.name for member in resize.joining)
    return ResizeDecision.wait(*actions, reason=f"taking {names} off the exclude lists")


def action_key(purpose: str, generation: int, members: Sequence[Member]) -> str:
    """A key for an action on ``members``: readable, and a file name in the guest.

    The generation and the members' node ids (new for every member the core
    creates) make a later resize of the same members a new action: a member
    that left and came back, even within one generation (autoscaling), is
    recommissioned and decommissioned again.
    """
    names = ".".join(
        member.name if member.node_id is None else f"{member.name}-n{member.node_id}"
        for member in members
    )
    if len(names) > _KEY_NAMES_LIMIT:
        names = hashlib.sha256(names.encode()).hexdigest()[:16]
    return f"kd-hadoop.{purpose}.g{generation}.{names}"


def _commission_actions(
    cluster: KubeDirectorCluster,
    verb: str,
    daemons: Sequence[str],
    members: Sequence[Member],
    everyone: Sequence[Member],
) -> list[ExecAction]:
    """One helper call per service: in the NameNode for HDFS, the ResourceManager for YARN."""
    if not members:
        return []
    hosts = [member.hostname for member in members]
    generation = cluster.metadata.generation or 0
    services = [("hdfs", NAMENODE)] if DATANODE in daemons else []
    services += [("yarn", RESOURCEMANAGER)] if NODEMANAGER in daemons else []
    actions = []
    for service, master_daemon in services:
        master = first(everyone, master_daemon)
        if master is None:
            continue
        waits = verb == "decommission"
        actions.append(
            ExecAction(
                key=action_key(f"{verb}-{service}", generation, members),
                member=master.name,
                command=guest_command(HELPER, verb, service, *hosts),
                done_when=DoneWhen.CHECK_SUCCEEDS if waits else DoneWhen.EXITS_ZERO,
                check=guest_command(HELPER, "is-decommissioned", service, *hosts) if waits else (),
                timeout_seconds=DECOMMISSION_TIMEOUT_SECONDS if waits else 300.0,
                poll_seconds=DECOMMISSION_POLL_SECONDS,
                description=f"{verb} {service} on {', '.join(hosts)}",
            )
        )
    return actions


# ---------------------------------------------------------------------------
# Node failures
# ---------------------------------------------------------------------------


def node_down_decision(app: KubeDirectorApp, event: NodeDown) -> NodeDownDecision | None:
    """Replace HDFS/YARN members promptly; never throw away a NameNode's only metadata."""
    if not is_hadoop_layout(app):
        return None
    daemons = daemons_of(event.member.role)
    member, node = event.member.name, event.node_name
    gone = event.problem is NodeProblem.GONE
    if NAMENODE in daemons:
        if not event.has_persistent_storage:
            if gone:
                return NodeDownDecision.replace_member(
                    f"NameNode {member} lost node {node}, and with it the file system's "
                    "metadata (no persistent storage): HDFS must be formatted again"
                )
            return NodeDownDecision.wait(
                f"NameNode {member} keeps its metadata only on node {node}: waiting for the "
                "node rather than losing it",
                WORKER_GRACE_SECONDS,
            )
        return replace_after_grace(
            event,
            MASTER_GRACE_SECONDS,
            f"NameNode {member} is replaced on another node, keeping its volume (metadata)",
        )
    if RESOURCEMANAGER in daemons:
        return replace_after_grace(
            event, MASTER_GRACE_SECONDS, f"ResourceManager {member} is replaced on another node"
        )
    if DATANODE in daemons:
        return replace_after_grace(
            event,
            WORKER_GRACE_SECONDS,
            f"DataNode {member} is replaced on another node; HDFS re-replicates its blocks",
        )
    if NODEMANAGER in daemons:
        return replace_after_grace(
            event, WORKER_GRACE_SECONDS, f"NodeManager {member} is replaced on another node"
        )
    return None


# ---------------------------------------------------------------------------
# Autoscaling NodeManagers from YARN's own load
# ---------------------------------------------------------------------------


def metrics_endpoint(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role: str, members: Sequence[Member]
) -> MetricsEndpoint | None:
    """For NodeManager roles, the ResourceManager's cluster metrics (REST API on port 8088).

    Abstains for other roles, and while the ResourceManager is not a member yet.
    """
    if not is_hadoop_layout(app) or NODEMANAGER not in daemons_of(role):
        return None
    managers = [spec.id for spec in cluster.spec.roles if RESOURCEMANAGER in daemons_of(spec.id)]
    host = hostname_of(members, managers)
    if host is None:
        return None
    return MetricsEndpoint(url=f"http://{host}:{RESOURCEMANAGER_HTTP_PORT}{CLUSTER_METRICS_PATH}")


def read_cluster_metrics(app: KubeDirectorApp, reading: MetricsReading) -> dict[str, float] | None:
    """The autoscale metrics in the ResourceManager answer the core fetched for a NodeManager role.

    Raises ValueError naming the URL when the body is not the JSON of
    ``/ws/v1/cluster/metrics`` (not JSON, or without ``containersPending``).
    """
    if not is_hadoop_layout(app) or NODEMANAGER not in daemons_of(reading.role):
        return None
    fix = f"point autoscale.metricSource.url at the ResourceManager's {CLUSTER_METRICS_PATH}"
    document = json_body(reading, "the ResourceManager metrics", fix)
    metrics = metrics_from_resourcemanager(document) if isinstance(document, Mapping) else {}
    if PENDING_CONTAINERS not in metrics:
        raise ValueError(
            f"the answer from {reading.url} is not YARN's cluster metrics: it has no numeric "
            f"clusterMetrics.containersPending; {fix}"
        )
    return metrics


def metrics_from_resourcemanager(document: Mapping[str, object]) -> dict[str, float]:
    """The autoscale metrics in a ResourceManager's ``/ws/v1/cluster/metrics`` answer.

    ``yarn_containers_pending``, ``yarn_containers_allocated`` and
    ``yarn_apps_pending`` from ``clusterMetrics``' ``containersPending``,
    ``containersAllocated`` and ``appsPending``.
    """
    body = document.get("clusterMetrics", document)
    if not isinstance(body, Mapping):
        return {}
    names = {
        "containersPending": PENDING_CONTAINERS,
        "containersAllocated": ALLOCATED_CONTAINERS,
        "appsPending": PENDING_APPS,
    }
    return {
        ours: float(body[theirs])
        for theirs, ours in names.items()
        if isinstance(body.get(theirs), int | float) and not isinstance(body.get(theirs), bool)
    }


def autoscale_nodemanagers(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
) -> int | None:
    """NodeManagers enough for the allocated and pending containers, at the target use.

    Grows by at least one member while containers or applications are
    pending; shrinks by one member at a time (each shrink decommissions).
    Abstains without YARN metrics.
    """
    role = cluster.role(request.role)
    if not is_hadoop_layout(app) or role is None or NODEMANAGER not in daemons_of(role.id):
        return None
    pending = request.metrics.get(PENDING_CONTAINERS)
    allocated = request.metrics.get(ALLOCATED_CONTAINERS)
    if pending is None and allocated is None:
        return None
    settings = HadoopSettings.of(app, cluster)
    offer = size_member(
        daemons_of(role.id), memory_mib(role), whole_cpus(role), settings.min_allocation_mb
    )
    per_member = max(1, offer.yarn_memory_mb // settings.min_allocation_mb)
    demand = (pending or 0.0) + (allocated or 0.0)
    backlog = bool(pending) or bool(request.metrics.get(PENDING_APPS))
    return scale_to_demand(request, demand, per_member, backlog=backlog)
