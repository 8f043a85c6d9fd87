"""Which Hadoop daemons each role runs, which members run them, and how big they are.

The plugin acts on apps that have a ``namenode`` role (the layout of the
bundled ``hadoop3`` app). Apps it claims without one, such as Cloudera
Manager apps that configure themselves, are left alone: every hook abstains.

Role ids map to daemons: ``namenode``, ``datanode``, ``resourcemanager``,
``nodemanager``, ``worker`` (a DataNode and a NodeManager together) and
``gateway`` (clients only). Unknown roles run no daemon of ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from kubedirector_core import KubeDirectorApp, Member

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


def running(members: Sequence[Member], daemon: str) -> list[Member]:
    """The members that run ``daemon``, in the order given (role order, then ordinal)."""
    return [member for member in members if daemon in daemons_of(member.role)]


def first(members: Sequence[Member], daemon: str) -> Member | None:
    """The first member running ``daemon`` (the NameNode, the ResourceManager), if any."""
    found = running(members, daemon)
    return found[0] if found else None


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
