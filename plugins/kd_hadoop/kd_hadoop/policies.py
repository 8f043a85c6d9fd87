"""Decisions: what is wrong with a cluster, and what to do on resize, node loss and load.

Pure functions of the app, the cluster and the hook's request; ``plugin.py``
only wires them to the hooks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from kd_hadoop.confgen import HELPER
from kd_hadoop.settings import REPLICATION, HadoopSettings, SettingError, annotation_path
from kd_hadoop.topology import (
    DATANODE,
    NAMENODE,
    NODEMANAGER,
    RESOURCEMANAGER,
    Membership,
    cpu_cores,
    daemons_of,
    format_mb,
    is_hadoop_layout,
    least_nodemanager_memory_mb,
    member_count,
    memory_mb,
    role_members,
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
    NodeDown,
    NodeDownDecision,
    NodeProblem,
    Problem,
    ResizeDecision,
    ResizePhase,
    RoleResize,
    Severity,
)

#: How long a decommission may take before the operator reports it (HDFS moves data).
DECOMMISSION_TIMEOUT_SECONDS = 6 * 3600.0
DECOMMISSION_POLL_SECONDS = 10.0

#: Keys name their members up to this length, else a digest (the guest allows 200 characters).
_KEY_NAMES_LIMIT = 150

#: Grace periods before replacing a member whose node is NotReady or unreachable.
MASTER_GRACE_SECONDS = 30.0
WORKER_GRACE_SECONDS = 60.0

#: Metric names the autoscale policy reads (see :func:`metrics_from_resourcemanager`).
PENDING_CONTAINERS = "yarn_containers_pending"
ALLOCATED_CONTAINERS = "yarn_containers_allocated"


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
        count = member_count(app, role)
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
    total = sum(member_count(app, role) for _, role in roles)
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
    nodemanagers = [(i, r) for i, r in _indexed(cluster, NODEMANAGER) if member_count(app, r)]
    managers = _indexed(cluster, RESOURCEMANAGER)
    managed = sum(member_count(app, role) for _, role in managers)
    if nodemanagers and managed != 1:
        path = f"spec.roles[{managers[0][0]}].members" if managers else "spec.roles"
        message = f"YARN needs exactly one ResourceManager for its NodeManagers, not {managed}"
        problems.append(Problem(path, message))
    for index, role in nodemanagers:
        daemons = daemons_of(role.id)
        offer = size_member(daemons, memory_mb(role), cpu_cores(role), settings.min_allocation_mb)
        if offer.yarn_memory_mb < settings.min_allocation_mb:
            least = least_nodemanager_memory_mb(daemons, settings.min_allocation_mb)
            problems.append(
                Problem(
                    f"spec.roles[{index}].resources.limits.memory",
                    f"a {role.id} member with {format_mb(memory_mb(role))} leaves YARN "
                    f"{offer.yarn_memory_mb} MiB after its daemons' heaps, less than "
                    f"yarn.scheduler.minimum-allocation-mb={settings.min_allocation_mb}: "
                    f"give it at least {format_mb(least)}",
                )
            )
    return problems


# ---------------------------------------------------------------------------
# Resize: decommission before a shrink, recommission after a grow
# ---------------------------------------------------------------------------


def helper_command(*arguments: str) -> tuple[str, ...]:
    """Run the kd-hadoop helper in a member, under its guest root (``KD_GUEST_ROOT``)."""
    return ("sh", "-c", f'exec "${{KD_GUEST_ROOT:-}}{HELPER}" "$@"', "kd-hadoop", *arguments)


def resize_decision(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
) -> ResizeDecision | None:
    """Decommission leaving DataNodes/NodeManagers first; refuse to go below replication."""
    if resize.is_noop:
        return ResizeDecision.proceed()
    daemons = daemons_of(resize.role)
    if not is_hadoop_layout(app) or not ({DATANODE, NODEMANAGER} & set(daemons)):
        return None
    settings = HadoopSettings.of(app, cluster)
    anchor = next(iter(resize.leaving or resize.joining), None)
    membership = Membership.of(app, cluster, anchor)
    if resize.phase is ResizePhase.BEFORE_SHRINK:
        return _before_shrink(cluster, resize, settings, membership, anchor)
    return _after_grow(cluster, resize, membership)


def _before_shrink(
    cluster: KubeDirectorCluster,
    resize: RoleResize,
    settings: HadoopSettings,
    membership: Membership,
    anchor: Member | None,
) -> ResizeDecision:
    daemons = daemons_of(resize.role)
    if DATANODE in daemons:
        others = sum(
            len(members)
            for role_id, members in membership.roles.items()
            if role_id != resize.role and DATANODE in daemons_of(role_id)
        )
        remaining = others + resize.desired_members
        if remaining < settings.replication:
            return ResizeDecision.refuse(
                f"shrinking role {resize.role} to {resize.desired_members} would leave "
                f"{remaining} DataNode(s) for {settings.replication} replicas of each block "
                f"({REPLICATION}={settings.replication}); HDFS would lose redundancy"
            )
    leaving = resize.leaving or role_members(
        cluster, resize.role, range(resize.desired_members, resize.current_members), anchor
    )
    actions = _commission_actions(cluster, "decommission", daemons, leaving, membership)
    if not actions:
        return ResizeDecision.proceed()
    names = ", ".join(member.name for member in leaving)
    return ResizeDecision.wait(*actions, reason=f"decommissioning {names} before removing them")


def _after_grow(
    cluster: KubeDirectorCluster, resize: RoleResize, membership: Membership
) -> ResizeDecision:
    actions = _commission_actions(
        cluster, "recommission", daemons_of(resize.role), resize.joining, membership
    )
    if not actions:
        return ResizeDecision.proceed()
    names = ", ".join(member.name for member in resize.joining)
    return ResizeDecision.wait(*actions, reason=f"taking {names} off the exclude lists")


def action_key(purpose: str, generation: int, members: Sequence[Member]) -> str:
    """A key for an action on ``members``: readable, and a file name in the guest.

    The generation makes a later resize of the same members a new action
    (a member that left and came back must be recommissioned again).
    """
    names = ".".join(member.name for member in members)
    if len(names) > _KEY_NAMES_LIMIT:
        names = hashlib.sha256(names.encode()).hexdigest()[:16]
    return f"kd-hadoop.{purpose}.g{generation}.{names}"


def _commission_actions(
    cluster: KubeDirectorCluster,
    verb: str,
    daemons: Sequence[str],
    members: Sequence[Member],
    membership: Membership,
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
        master = membership.first(master_daemon)
        if master is None:
            continue
        waits = verb == "decommission"
        actions.append(
            ExecAction(
                key=action_key(f"{verb}-{service}", generation, members),
                member=master.name,
                command=helper_command(verb, service, *hosts),
                done_when=DoneWhen.CHECK_SUCCEEDS if waits else DoneWhen.EXITS_ZERO,
                check=helper_command("is-decommissioned", service, *hosts) if waits else (),
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
        return _replace_after(
            event,
            MASTER_GRACE_SECONDS,
            f"NameNode {member} is replaced on another node, keeping its volume (metadata)",
        )
    if RESOURCEMANAGER in daemons:
        return _replace_after(
            event, MASTER_GRACE_SECONDS, f"ResourceManager {member} is replaced on another node"
        )
    if DATANODE in daemons:
        return _replace_after(
            event,
            WORKER_GRACE_SECONDS,
            f"DataNode {member} is replaced on another node; HDFS re-replicates its blocks",
        )
    if NODEMANAGER in daemons:
        return _replace_after(
            event, WORKER_GRACE_SECONDS, f"NodeManager {member} is replaced on another node"
        )
    return None


def _replace_after(event: NodeDown, grace: float, reason: str) -> NodeDownDecision:
    if event.problem is NodeProblem.GONE or event.down_for_seconds >= grace:
        return NodeDownDecision.replace_member(f"{reason} (node {event.node_name} {event.problem})")
    return NodeDownDecision.wait(
        f"node {event.node_name} of {event.member.name} is {event.problem}; "
        f"replacing it after {grace:.0f} s",
        max(1.0, grace - event.down_for_seconds),
    )


# ---------------------------------------------------------------------------
# Autoscaling NodeManagers from YARN's own load
# ---------------------------------------------------------------------------


def metrics_from_resourcemanager(document: Mapping[str, object]) -> dict[str, float]:
    """The autoscale metrics in a ResourceManager's ``/ws/v1/cluster/metrics`` answer."""
    body = document.get("clusterMetrics", document)
    if not isinstance(body, Mapping):
        return {}
    names = {"containersPending": PENDING_CONTAINERS, "containersAllocated": ALLOCATED_CONTAINERS}
    return {
        ours: float(body[theirs])
        for theirs, ours in names.items()
        if isinstance(body.get(theirs), int | float)
    }


def autoscale_nodemanagers(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
) -> int | None:
    """NodeManagers enough for the allocated and pending containers, at the target use.

    Grows by at least one member while containers are pending; shrinks by one
    member at a time (each shrink decommissions). Abstains without YARN metrics.
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
        daemons_of(role.id), memory_mb(role), cpu_cores(role), settings.min_allocation_mb
    )
    per_member = max(1, offer.yarn_memory_mb // settings.min_allocation_mb)
    wanted = (pending or 0.0) + (allocated or 0.0)
    desired = math.ceil(wanted / (per_member * request.target_utilization))
    current = request.current_members
    if pending:
        desired = max(desired, current + 1)
    elif desired < current:
        desired = current - 1
    return request.clamp(desired)
