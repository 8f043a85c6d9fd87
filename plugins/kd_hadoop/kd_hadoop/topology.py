"""Which Hadoop daemons each role runs, who the members are, and how big they are.

The plugin acts on apps that have a ``namenode`` role (the layout of the
bundled ``hadoop3`` app). Apps it claims without one, such as Cloudera
Manager apps that configure themselves, are left alone: every hook abstains.

Role ids map to daemons: ``namenode``, ``datanode``, ``resourcemanager``,
``nodemanager``, ``worker`` (a DataNode and a NodeManager together) and
``gateway`` (clients only). Unknown roles run no daemon of ours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from kubedirector_core import (
    ClusterRole,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    parse_quantity,
)

NAMENODE = "namenode"
DATANODE = "datanode"
RESOURCEMANAGER = "resourcemanager"
NODEMANAGER = "nodemanager"

#: Daemons run by the members of each known role id, in start order.
ROLE_DAEMONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "namenode": (NAMENODE,),
        "datanode": (DATANODE,),
        "resourcemanager": (RESOURCEMANAGER,),
        "nodemanager": (NODEMANAGER,),
        "worker": (DATANODE, NODEMANAGER),
        "gateway": (),
    }
)

MIB = 2**20

# Sizing rules, in MiB. A NodeManager member gives its memory to YARN containers
# after its daemons' heaps and a margin for JVM overhead and the OS.
_DAEMON_HEAP_SHARE = 0.75  # of a member that runs daemons but no NodeManager
_SMALL_HEAP_MIN, _SMALL_HEAP_MAX = 256, 1024  # each daemon beside a NodeManager
_OVERHEAD_MIN = 256
_MEMORY_STEP_MB = 256


def is_hadoop_layout(app: KubeDirectorApp) -> bool:
    """True when the app has the roles this plugin configures (a namenode role)."""
    return app.role(NAMENODE) is not None


def daemons_of(role_id: str) -> tuple[str, ...]:
    """The daemons members of ``role_id`` run (empty for unknown roles)."""
    return ROLE_DAEMONS.get(role_id, ())


def member_count(app: KubeDirectorApp, role: ClusterRole) -> int:
    """How many members the cluster asks for (the app role's minimum when unset)."""
    if role.members is not None:
        return role.members
    app_role = app.role(role.id)
    return app_role.min_members if app_role else 0


def memory_mb(role: ClusterRole) -> int:
    """Memory of each member in MiB: its limit (KubeDirector requires one)."""
    limits = role.resources.limits
    value = limits.get("memory", (role.resources.requests or {}).get("memory", 0))
    return int(parse_quantity(value) // MIB)


def cpu_cores(role: ClusterRole) -> int:
    """Whole CPUs of each member (at least 1): its limit, rounded down."""
    value = role.resources.limits.get("cpu", (role.resources.requests or {}).get("cpu", 1))
    return max(1, math.floor(parse_quantity(value)))


@dataclass(frozen=True)
class Sizing:
    """JVM heaps of a member's daemons and what it offers YARN, in MiB and cores."""

    heaps_mb: Mapping[str, int]
    yarn_memory_mb: int = 0
    yarn_vcores: int = 0


def size_member(daemons: Sequence[str], memory: int, cores: int, min_allocation_mb: int) -> Sizing:
    """Split a member's memory between its daemons' heaps and YARN containers.

    Without a NodeManager the daemons share 75 % of the memory. With one, each
    daemon gets an eighth of the memory (256 to 1024 MiB), a tenth (at least
    256 MiB) is left for JVM overhead and the OS, and the rest goes to YARN,
    rounded down to a multiple of the scheduler's minimum allocation.
    """
    if not daemons:
        return Sizing(heaps_mb={})
    if NODEMANAGER not in daemons:
        share = max(_SMALL_HEAP_MIN, int(memory * _DAEMON_HEAP_SHARE) // len(daemons))
        return Sizing(heaps_mb=dict.fromkeys(daemons, share))
    heap = min(_SMALL_HEAP_MAX, max(_SMALL_HEAP_MIN, memory // 8))
    overhead = max(_OVERHEAD_MIN, memory // 10)
    available = memory - heap * len(daemons) - overhead
    yarn_memory = max(0, available // min_allocation_mb * min_allocation_mb)
    return Sizing(
        heaps_mb=dict.fromkeys(daemons, heap),
        yarn_memory_mb=yarn_memory,
        yarn_vcores=cores,
    )


def least_nodemanager_memory_mb(daemons: Sequence[str], min_allocation_mb: int) -> int:
    """The least memory (a multiple of 256 MiB) that gives YARN one minimum allocation."""
    memory = _MEMORY_STEP_MB
    while size_member(daemons, memory, 1, min_allocation_mb).yarn_memory_mb < min_allocation_mb:
        memory += _MEMORY_STEP_MB
    return memory


def format_mb(megabytes: int) -> str:
    """A MiB amount as a quantity a person writes ("3Gi", "1536Mi")."""
    return f"{megabytes // 1024}Gi" if megabytes % 1024 == 0 else f"{megabytes}Mi"


# ---------------------------------------------------------------------------
# Membership: every member's pod name and fully qualified hostname
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """The members the cluster asks for, by role, with their hostnames.

    Built from the cluster's spec (how many members), its status (the pod
    names the operator created) and one known member (the DNS domain all
    members share). Members the status does not list yet are named like
    their StatefulSet's pods, ``<statefulset>-<ordinal>``.
    """

    roles: Mapping[str, tuple[Member, ...]]

    @classmethod
    def of(
        cls, app: KubeDirectorApp, cluster: KubeDirectorCluster, anchor: Member | None = None
    ) -> Membership:
        """The cluster's membership; ``anchor`` (any member) gives the DNS domain."""
        roles = {
            role.id: role_members(cluster, role.id, range(member_count(app, role)), anchor)
            for role in cluster.spec.roles
        }
        return cls(roles=MappingProxyType(roles))

    def running(self, daemon: str) -> list[Member]:
        """The members that run ``daemon``, in role order then ordinal order."""
        return [
            member
            for role_id, members in self.roles.items()
            if daemon in daemons_of(role_id)
            for member in members
        ]

    def first(self, daemon: str) -> Member | None:
        """The first member running ``daemon`` (the NameNode, the ResourceManager)."""
        found = self.running(daemon)
        return found[0] if found else None


def role_members(
    cluster: KubeDirectorCluster, role_id: str, ordinals: range, anchor: Member | None
) -> tuple[Member, ...]:
    """The members of ``role_id`` with these ordinals, named as in :class:`Membership`."""
    domain = _domain_of(anchor)
    names = _pod_names(cluster, role_id, ordinals.stop, anchor)
    return tuple(
        Member(
            name=names[ordinal],
            role=role_id,
            ordinal=ordinal,
            hostname=f"{names[ordinal]}.{domain}" if domain else names[ordinal],
        )
        for ordinal in ordinals
    )


def _domain_of(anchor: Member | None) -> str:
    if anchor is None:
        return ""
    if anchor.hostname.startswith(anchor.name + "."):
        return anchor.hostname[len(anchor.name) + 1 :]
    return anchor.hostname.partition(".")[2]


def _pod_names(
    cluster: KubeDirectorCluster, role_id: str, count: int, anchor: Member | None
) -> list[str]:
    """Pod names of the role's first ``count`` members, from the status where it knows them."""
    statefulset = f"{cluster.metadata.name}-{role_id}"
    known: dict[int, str] = {}
    for role_status in (cluster.status.roles or []) if cluster.status else []:
        if role_status.id != role_id:
            continue
        statefulset = role_status.stateful_set or statefulset
        for member_status in role_status.members or []:
            prefix, _, ordinal = (member_status.pod or "").rpartition("-")
            if prefix and ordinal.isdigit():
                known[int(ordinal)] = member_status.pod or ""
                statefulset = role_status.stateful_set or prefix
    if anchor is not None and anchor.role == role_id:
        known[anchor.ordinal] = anchor.name
        statefulset = anchor.name.rpartition("-")[0] or statefulset
    return [known.get(ordinal, f"{statefulset}-{ordinal}") for ordinal in range(count)]
