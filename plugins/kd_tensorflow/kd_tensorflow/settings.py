"""Where a TensorFlow cluster's settings live, and how they are read and checked.

KubeDirector has no field for GPU models, placement, gang admission or elastic
training, so these settings are annotations named ``tensorflow.kubedirector.io/<key>``,
looked up in this order (the first found wins):

1. the role's ``podAnnotations`` (role-scoped keys only: :data:`ROLE_KEYS`);
2. the KubeDirectorCluster's ``metadata.annotations``;
3. the KubeDirectorApp's ``spec.config.configMeta`` (defaults of an app type,
   set by whoever publishes the app, such as a site's largest GPU node);
4. the built-in default.

The GPU count itself is not a setting: it is the role's ``nvidia.com/gpu``
resource, where KubeDirector users already write it.

Reading never raises: a malformed value is reported as a :class:`Problem` with
the field path it came from, and the default is used in its place, so that the
render hooks keep working while validation rejects the cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from kubedirector_core import KubeDirectorApp, KubeDirectorCluster, Problem

PREFIX = "tensorflow.kubedirector.io/"

#: Comma-separated GPU products (the ``nvidia.com/gpu.product`` node label) a role may use.
GPU_PRODUCT = PREFIX + "gpu-product"
#: The least memory, in MiB, of each GPU (the ``nvidia.com/gpu.memory`` node label).
GPU_MEMORY_MIN = PREFIX + "gpu-memory-min"
#: ``spread`` (default) places a role's members on different nodes, ``pack`` on as
#: few as possible, ``none`` leaves it to the scheduler.
PLACEMENT = PREFIX + "placement"
#: ``true`` (default for training apps): members start all together or not at all.
GANG = PREFIX + "gang"
#: How long the gang may wait for capacity before the cluster is reported as stuck.
GANG_TIMEOUT = PREFIX + "gang-timeout-seconds"
#: ``true``: workers may come and go without restarting the training group.
ELASTIC = PREFIX + "elastic"
#: Bounds of the worker count under elastic training (autoscaling stays within them).
MIN_WORKERS = PREFIX + "elastic-min-workers"
MAX_WORKERS = PREFIX + "elastic-max-workers"
#: The most GPUs any node has: members asking for more can never be scheduled.
MAX_GPUS_PER_NODE = PREFIX + "max-gpus-per-node"
#: How long a NotReady or unreachable node is waited for before acting.
NODE_DOWN_GRACE = PREFIX + "node-down-grace-seconds"

#: Keys a role may override through its podAnnotations.
ROLE_KEYS = frozenset({GPU_PRODUCT, GPU_MEMORY_MIN, PLACEMENT})
#: Every key this plugin reads.
ALL_KEYS = ROLE_KEYS | frozenset(
    {GANG, GANG_TIMEOUT, ELASTIC, MIN_WORKERS, MAX_WORKERS, MAX_GPUS_PER_NODE, NODE_DOWN_GRACE}
)

DEFAULT_GANG_TIMEOUT_SECONDS = 600.0
DEFAULT_NODE_DOWN_GRACE_SECONDS = 60.0

_T = TypeVar("_T")


class Placement(StrEnum):
    """How a role's members are placed across nodes."""

    SPREAD = "spread"
    PACK = "pack"
    NONE = "none"


@dataclass(frozen=True)
class Found:
    """A setting's raw value and the wire field path it was read from."""

    value: str
    path: str


def _key_path(base: str, key: str) -> str:
    return f"{base}.{key}"


def lookup(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, key: str, role_index: int | None = None
) -> Found | None:
    """Find ``key`` in the role's podAnnotations, the cluster's annotations, then the app."""
    if role_index is not None and key in ROLE_KEYS:
        role = cluster.spec.roles[role_index]
        if role.pod_annotations and key in role.pod_annotations:
            path = _key_path(f"spec.roles[{role_index}].podAnnotations", key)
            return Found(role.pod_annotations[key], path)
    annotations = cluster.metadata.annotations or {}
    if key in annotations:
        return Found(annotations[key], _key_path("metadata.annotations", key))
    config_meta = app.spec.config.config_meta or {}
    if key in config_meta:
        return Found(config_meta[key], _key_path("spec.config.configMeta", key))
    return None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"true", "yes", "on", "1"}:
        return True
    if lowered in {"false", "no", "off", "0"}:
        return False
    raise ValueError(f"{raw!r} is not a boolean: write 'true' or 'false'")


def _parse_positive_int(raw: str) -> int:
    try:
        number = int(raw.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None
    if number < 1:
        raise ValueError(f"{raw!r} must be at least 1")
    return number


def _parse_seconds(raw: str) -> float:
    try:
        seconds = float(raw.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a number of seconds") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{raw!r} must be a finite number of seconds, 0 or more")
    return seconds


def _parse_products(raw: str) -> tuple[str, ...]:
    products = tuple(sorted({part.strip() for part in raw.split(",") if part.strip()}))
    if not products:
        raise ValueError("names no GPU product: write e.g. 'NVIDIA-A100-SXM4-40GB'")
    return products


def _parse_placement(raw: str) -> Placement:
    try:
        return Placement(raw.strip().lower())
    except ValueError:
        choices = ", ".join(repr(p.value) for p in Placement)
        raise ValueError(f"{raw!r} is not a placement: choose one of {choices}") from None


@dataclass
class _Reader:
    app: KubeDirectorApp
    cluster: KubeDirectorCluster
    role_index: int | None = None
    problems: list[Problem] = field(default_factory=list)

    def get(self, key: str, parse: Callable[[str], _T], default: _T) -> _T:
        found = lookup(self.app, self.cluster, key, self.role_index)
        if found is None:
            return default
        try:
            return parse(found.value)
        except ValueError as error:
            self.problems.append(Problem(found.path, f"{key}: {error}"))
            return default


@dataclass(frozen=True)
class ClusterSettings:
    """The cluster-wide settings of a TensorFlow cluster."""

    gang: bool = True
    gang_timeout_seconds: float = DEFAULT_GANG_TIMEOUT_SECONDS
    elastic: bool = False
    min_workers: int | None = None
    max_workers: int | None = None
    max_gpus_per_node: int | None = None
    node_down_grace_seconds: float = DEFAULT_NODE_DOWN_GRACE_SECONDS


@dataclass(frozen=True)
class RoleSettings:
    """The GPU selection and placement of one role."""

    gpu_products: tuple[str, ...] = ()
    gpu_memory_min_mib: int | None = None
    placement: Placement = Placement.SPREAD


def _positive_timeout(raw: str) -> float:
    seconds = _parse_seconds(raw)
    if seconds == 0:
        raise ValueError(f"{raw!r} must be more than 0 seconds")
    return seconds


def read_cluster_settings(
    app: KubeDirectorApp, cluster: KubeDirectorCluster
) -> tuple[ClusterSettings, list[Problem]]:
    """The cluster-wide settings, and what is wrong with them."""
    reader = _Reader(app, cluster)
    settings = ClusterSettings(
        gang=reader.get(GANG, _parse_bool, True),
        gang_timeout_seconds=reader.get(
            GANG_TIMEOUT, _positive_timeout, DEFAULT_GANG_TIMEOUT_SECONDS
        ),
        elastic=reader.get(ELASTIC, _parse_bool, False),
        min_workers=reader.get(MIN_WORKERS, _parse_positive_int, None),
        max_workers=reader.get(MAX_WORKERS, _parse_positive_int, None),
        max_gpus_per_node=reader.get(MAX_GPUS_PER_NODE, _parse_positive_int, None),
        node_down_grace_seconds=reader.get(
            NODE_DOWN_GRACE, _parse_seconds, DEFAULT_NODE_DOWN_GRACE_SECONDS
        ),
    )
    return settings, reader.problems


def read_role_settings(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role_index: int | None
) -> tuple[RoleSettings, list[Problem]]:
    """The settings of the role at ``role_index`` in the cluster's spec, and their problems.

    With ``role_index`` ``None`` (a role the spec does not list) only the
    cluster's and the app's settings apply.
    """
    reader = _Reader(app, cluster, role_index)
    settings = RoleSettings(
        gpu_products=reader.get(GPU_PRODUCT, _parse_products, ()),
        gpu_memory_min_mib=reader.get(GPU_MEMORY_MIN, _parse_positive_int, None),
        placement=reader.get(PLACEMENT, _parse_placement, Placement.SPREAD),
    )
    return settings, reader.problems


def cluster_settings(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> ClusterSettings:
    """The cluster-wide settings, with defaults in place of malformed values."""
    return read_cluster_settings(app, cluster)[0]


def role_settings(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role_index: int | None
) -> RoleSettings:
    """A role's settings, with defaults in place of malformed values."""
    return read_role_settings(app, cluster, role_index)[0]
