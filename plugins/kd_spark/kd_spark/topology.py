"""What each role is, who the members are, and how big they are.

The plugin acts on apps with a Spark master role: ``master`` (or
``spark-master``, as in KubeDirector's spark245 app). Other roles:
``worker``/``spark-worker``, ``history``/``historyserver``, and
``notebook``/``notebook-server`` (a client). Apps without a master role are
left alone: every hook abstains.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from kubedirector_core import (
    ClusterRole,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    parse_quantity,
)

MIB = 2**20
GPU = "nvidia.com/gpu"

_HEAP_MIN, _HEAP_MAX = 256, 1024  # a worker daemon's own heap
_OVERHEAD_MIN = 384  # JVM overhead and the OS, beside the executors
_DAEMON_SHARE = 0.75  # of a master's or history server's memory


class Kind(StrEnum):
    """What a role is for Spark."""

    MASTER = "master"
    WORKER = "worker"
    HISTORY = "history"
    NOTEBOOK = "notebook"


ROLE_KINDS: Mapping[str, Kind] = MappingProxyType(
    {
        "master": Kind.MASTER,
        "spark-master": Kind.MASTER,
        "worker": Kind.WORKER,
        "spark-worker": Kind.WORKER,
        "history": Kind.HISTORY,
        "historyserver": Kind.HISTORY,
        "notebook": Kind.NOTEBOOK,
        "notebook-server": Kind.NOTEBOOK,
    }
)

#: The daemon each kind runs (the notebook runs drivers, not a Spark daemon).
DAEMONS: Mapping[Kind, str] = MappingProxyType(
    {Kind.MASTER: "master", Kind.WORKER: "worker", Kind.HISTORY: "history"}
)


def kind_of(role_id: str) -> Kind | None:
    """The kind of ``role_id``, or None for roles Spark does not know."""
    return ROLE_KINDS.get(role_id)


def is_spark_layout(app: KubeDirectorApp) -> bool:
    """True when the app has a Spark master role."""
    return any(kind_of(role.id) is Kind.MASTER for role in app.spec.roles)


def member_count(app: KubeDirectorApp, role: ClusterRole) -> int:
    """How many members the cluster asks for (the app role's minimum when unset)."""
    if role.members is not None:
        return role.members
    app_role = app.role(role.id)
    return app_role.min_members if app_role else 0


def _resource(role: ClusterRole, name: str, default: int | str = 0) -> int | str:
    return role.resources.limits.get(name, (role.resources.requests or {}).get(name, default))


def memory_mb(role: ClusterRole) -> int:
    """Memory of each member in MiB (its limit)."""
    return int(parse_quantity(_resource(role, "memory")) // MIB)


def cpu_cores(role: ClusterRole) -> int:
    """Whole CPUs of each member (at least 1)."""
    return max(1, math.floor(parse_quantity(_resource(role, "cpu", 1))))


def gpus(role: ClusterRole) -> int:
    """NVIDIA GPUs each member requests."""
    return int(parse_quantity(_resource(role, GPU)))


@dataclass(frozen=True)
class WorkerOffer:
    """What a worker member offers executors, and its own daemon's heap."""

    memory_mb: int
    cores: int
    gpus: int
    daemon_heap_mb: int


def _worker_heap_mb(memory: int) -> int:
    return min(_HEAP_MAX, max(_HEAP_MIN, memory // 8))


def executor_memory_mb(memory: int) -> int:
    """What a worker of ``memory`` MiB offers executors: less its heap and the overhead."""
    return max(0, memory - _worker_heap_mb(memory) - max(_OVERHEAD_MIN, memory // 10))


def worker_offer(role: ClusterRole) -> WorkerOffer:
    """What each member of a worker role offers executors (SPARK_WORKER_MEMORY/CORES)."""
    memory = memory_mb(role)
    heap = _worker_heap_mb(memory)
    return WorkerOffer(
        memory_mb=executor_memory_mb(memory),
        cores=cpu_cores(role),
        gpus=gpus(role),
        daemon_heap_mb=heap,
    )


def daemon_heap_mb(role: ClusterRole) -> int:
    """The heap of a member's Spark daemon (SPARK_DAEMON_MEMORY)."""
    if kind_of(role.id) is Kind.WORKER:
        return worker_offer(role).daemon_heap_mb
    return max(_HEAP_MIN, int(memory_mb(role) * _DAEMON_SHARE))


def least_worker_memory_mb(executor_mb: int) -> int:
    """The least memory, in 256 MiB steps, whose worker offer holds one executor."""
    memory = 256
    while executor_memory_mb(memory) < executor_mb:
        memory += 256
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

    From the cluster's spec (counts), its status (pod names the operator
    created) and one known member (the DNS domain every member shares).
    Members the status does not list yet are named ``<statefulset>-<ordinal>``.
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

    def of_kind(self, kind: Kind) -> list[Member]:
        """The members of every role of ``kind``."""
        return [m for role_id, ms in self.roles.items() if kind_of(role_id) is kind for m in ms]

    @property
    def master(self) -> Member:
        """The master member; validation guarantees there is one."""
        masters = self.of_kind(Kind.MASTER)
        if not masters:
            raise ValueError("the cluster has no Spark master: give role master 1 member")
        return masters[0]


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
    statefulset = f"{cluster.metadata.name}-{role_id}"
    known: dict[int, str] = {}
    for role_status in (cluster.status.roles or []) if cluster.status else []:
        if role_status.id != role_id:
            continue
        for member_status in role_status.members or []:
            prefix, _, ordinal = (member_status.pod or "").rpartition("-")
            if prefix and ordinal.isdigit():
                known[int(ordinal)] = member_status.pod or ""
                statefulset = prefix
        statefulset = role_status.stateful_set or statefulset
    if anchor is not None and anchor.role == role_id:
        known[anchor.ordinal] = anchor.name
        statefulset = anchor.name.rpartition("-")[0] or statefulset
    return [known.get(ordinal, f"{statefulset}-{ordinal}") for ordinal in range(count)]
