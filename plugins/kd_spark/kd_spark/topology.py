"""What each role is, who the members are, and how big they are.

The plugin acts on apps with a Spark master role: ``master`` (or
``spark-master``, as in KubeDirector's spark245 app). Other roles:
``worker``/``spark-worker``, ``history``/``historyserver``, and
``notebook``/``notebook-server`` (a client). Apps without a master role are
left alone: every hook abstains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from kubedirector_core import (
    ClusterRole,
    KubeDirectorApp,
    Member,
    memory_mib,
    role_resource,
    whole_cpus,
)

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


def gpus(role: ClusterRole) -> int:
    """NVIDIA GPUs each member requests."""
    return int(role_resource(role, GPU))


def of_kind(members: Sequence[Member], kind: Kind) -> list[Member]:
    """The members of every role of ``kind``, in the order given."""
    return [member for member in members if kind_of(member.role) is kind]


def master_of(members: Sequence[Member]) -> Member:
    """The master among ``members``; validation guarantees there is one."""
    masters = of_kind(members, Kind.MASTER)
    if not masters:
        raise ValueError("the cluster has no Spark master: give role master 1 member")
    return masters[0]


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
    memory = memory_mib(role)
    heap = _worker_heap_mb(memory)
    return WorkerOffer(
        memory_mb=executor_memory_mb(memory),
        cores=whole_cpus(role),
        gpus=gpus(role),
        daemon_heap_mb=heap,
    )


def daemon_heap_mb(role: ClusterRole) -> int:
    """The heap of a member's Spark daemon (SPARK_DAEMON_MEMORY)."""
    if kind_of(role.id) is Kind.WORKER:
        return worker_offer(role).daemon_heap_mb
    return max(_HEAP_MIN, int(memory_mib(role) * _DAEMON_SHARE))


def least_worker_memory_mb(executor_mb: int) -> int:
    """The least memory, in 256 MiB steps, whose worker offer holds one executor."""
    memory = 256
    while executor_memory_mb(memory) < executor_mb:
        memory += 256
    return memory
