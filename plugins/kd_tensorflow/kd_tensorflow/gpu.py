"""GPU scheduling: counting a role's GPUs, checking them, and patching its pod template.

A role's GPU count is its ``nvidia.com/gpu`` resource. Kubernetes only knows
whole GPUs of an extended resource, whose request must equal its limit; this
module says so in plain words before the API server or the scheduler does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kd_tensorflow.settings import Placement, RoleSettings
from kubedirector_core import (
    ClusterRole,
    Problem,
    Severity,
    parse_quantity,
)

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
HOSTNAME_LABEL = "kubernetes.io/hostname"
VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
#: Makes NVIDIA's container runtime behave as if no GPU were asked for, so that
#: an image built with ``NVIDIA_VISIBLE_DEVICES=all`` (every CUDA image) cannot
#: see the GPUs of the node a CPU-only member happens to run on.
NO_DEVICES = "void"
#: The toleration of the taint GPU nodes carry (``nvidia.com/gpu=present:NoSchedule``).
GPU_TOLERATION: dict[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}


def _whole(value: str | int, path: str, problems: list[Problem]) -> int:
    """The quantity as a whole number of GPUs; a problem (and 0) otherwise."""
    try:
        amount = parse_quantity(value)
    except (ValueError, ArithmeticError):
        problems.append(Problem(path, f"{value!r} is not a quantity: write a whole number of GPUs"))
        return 0
    if amount < 0 or amount != amount.to_integral_value():
        problems.append(
            Problem(
                path,
                f"{value!r} GPUs: GPUs are whole devices; fractional GPUs (MIG slices or "
                "time-sharing) are not supported, write a whole number such as '1'",
            )
        )
        return 0
    return int(amount)


def gpu_problems(role: ClusterRole, index: int) -> tuple[int, list[Problem]]:
    """The role's GPUs per member, and what is wrong with how they are asked for."""
    base = f"spec.roles[{index}].resources"
    problems: list[Problem] = []
    limit_raw = role.resources.limits.get(GPU_RESOURCE)
    request_raw = (role.resources.requests or {}).get(GPU_RESOURCE)
    limit = (
        None if limit_raw is None else _whole(limit_raw, f"{base}.limits.{GPU_RESOURCE}", problems)
    )
    request = (
        None
        if request_raw is None
        else _whole(request_raw, f"{base}.requests.{GPU_RESOURCE}", problems)
    )
    if request is not None and limit is None:
        problems.append(
            Problem(
                f"{base}.limits.{GPU_RESOURCE}",
                f"GPUs must be set as a limit: add limits.{GPU_RESOURCE}: '{request}' "
                "(the request defaults to it)",
            )
        )
    elif request is not None and limit is not None and request != limit and not problems:
        problems.append(
            Problem(
                f"{base}.requests.{GPU_RESOURCE}",
                f"requests {request} GPUs but limits {limit}: a GPU cannot be overcommitted, "
                "so the request must equal the limit",
            )
        )
    return (limit or 0), problems


def gpus_of(role: ClusterRole) -> int:
    """The role's whole GPUs per member (0 when none, or when malformed)."""
    return gpu_problems(role, 0)[0]


def capacity_problems(gpus: int, max_per_node: int | None, index: int) -> list[Problem]:
    """A member asking for more GPUs than any node has can never be scheduled."""
    if max_per_node is None or gpus <= max_per_node:
        return []
    return [
        Problem(
            f"spec.roles[{index}].resources.limits.{GPU_RESOURCE}",
            f"each member asks for {gpus} GPUs but no node has more than {max_per_node}: "
            f"ask for at most {max_per_node}, or use more members with fewer GPUs each",
        )
    ]


def ps_warning(role: ClusterRole, gpus: int, index: int) -> list[Problem]:
    """Parameter servers hold and serve variables: GPUs given to them sit idle."""
    if role.id != "ps" or gpus == 0:
        return []
    return [
        Problem(
            f"spec.roles[{index}].resources.limits.{GPU_RESOURCE}",
            f"parameter servers do not compute: the {gpus} GPU(s) of each ps member "
            "will sit idle; remove them unless your model places ops on ps",
            Severity.WARNING,
        )
    ]


def visible_devices_warning(role: ClusterRole, gpus: int, index: int) -> list[Problem]:
    """A hand-set NVIDIA_VISIBLE_DEVICES defeats the device plugin's isolation."""
    for position, variable in enumerate(role.env or []):
        if variable.name == VISIBLE_DEVICES:
            why = (
                "the device plugin sets it to the GPUs allocated to each member, and this "
                "plugin removes it from the role"
                if gpus
                else "it can expose GPUs the scheduler never allocated to this member"
            )
            return [
                Problem(
                    f"spec.roles[{index}].env[{position}]",
                    f"do not set {VISIBLE_DEVICES} yourself: {why}",
                    Severity.WARNING,
                )
            ]
    return []


def selection_warning(
    settings: RoleSettings, gpus: int, role: ClusterRole, index: int
) -> list[Problem]:
    """Selecting a GPU model for a role without GPUs has no effect."""
    if gpus or not (settings.gpu_products or settings.gpu_memory_min_mib):
        return []
    return [
        Problem(
            f"spec.roles[{index}]",
            f"role {role.id} selects a GPU model but asks for no GPU "
            f"(resources.limits.{GPU_RESOURCE}); the selection is ignored for it",
            Severity.WARNING,
        )
    ]


# ---------------------------------------------------------------------------
# Pod template patches
# ---------------------------------------------------------------------------


def _app_container(pod: dict[str, Any]) -> dict[str, Any] | None:
    containers = pod.get("containers") or []
    return containers[0] if containers else None


def _set_gpu_resources(container: dict[str, Any], gpus: int) -> None:
    resources = container.setdefault("resources", {})
    for kind in ("limits", "requests"):
        resources.setdefault(kind, {})[GPU_RESOURCE] = str(gpus)


def _handle_visible_devices(container: dict[str, Any], gpus: int) -> None:
    env = [var for var in container.get("env") or [] if var.get("name") != VISIBLE_DEVICES]
    user_set = len(env) != len(container.get("env") or [])
    if not gpus:
        if user_set:  # keep the user's choice on CPU-only roles (validation warned)
            return
        env.append({"name": VISIBLE_DEVICES, "value": NO_DEVICES})
    container["env"] = env


def _add_toleration(pod: dict[str, Any]) -> None:
    tolerations = pod.setdefault("tolerations", [])
    if GPU_TOLERATION not in tolerations:
        tolerations.append(dict(GPU_TOLERATION))


def _gpu_expressions(settings: RoleSettings) -> list[dict[str, Any]]:
    expressions: list[dict[str, Any]] = []
    if settings.gpu_products:
        expressions.append(
            {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": list(settings.gpu_products)}
        )
    if settings.gpu_memory_min_mib:
        # Gt is strict and compares integers: "at least N MiB" is "more than N - 1".
        expressions.append(
            {
                "key": GPU_MEMORY_LABEL,
                "operator": "Gt",
                "values": [str(settings.gpu_memory_min_mib - 1)],
            }
        )
    return expressions


def _add_node_affinity(pod: dict[str, Any], expressions: list[dict[str, Any]]) -> None:
    """AND the expressions into every required node selector term (terms are ORed)."""
    if not expressions:
        return
    required = (
        pod.setdefault("affinity", {})
        .setdefault("nodeAffinity", {})
        .setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    )
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({})
    for term in terms:
        existing = term.setdefault("matchExpressions", [])
        existing.extend(e for e in expressions if e not in existing)


def _pod_selector(statefulset: Mapping[str, Any]) -> dict[str, str]:
    spec = statefulset.get("spec", {})
    labels = spec.get("selector", {}).get("matchLabels")
    if labels:
        return dict(labels)
    return dict(spec.get("template", {}).get("metadata", {}).get("labels", {}))


def _add_placement(pod: dict[str, Any], placement: Placement, selector: dict[str, str]) -> None:
    if placement is Placement.NONE or not selector:
        return
    if placement is Placement.SPREAD:
        constraint = {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_LABEL,
            # A preference, not a filter: with DoNotSchedule a gang admitted together
            # could still deadlock once the scheduler has put two members on a node
            # with room for both while a matching node stays empty (skew 2): the last
            # member would wait for ever and the others hold their GPUs idle.
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
            # Count only nodes the member may use: tainted GPU nodes a CPU role does not
            # tolerate would otherwise hold the minimum at 0 and block every placement.
            "nodeAffinityPolicy": "Honor",
            "nodeTaintsPolicy": "Honor",
        }
        constraints = pod.setdefault("topologySpreadConstraints", [])
        if constraint not in constraints:
            constraints.append(constraint)
        return
    term = {
        "weight": 100,
        "podAffinityTerm": {
            "topologyKey": HOSTNAME_LABEL,
            "labelSelector": {"matchLabels": selector},
        },
    }
    preferred = (
        pod.setdefault("affinity", {})
        .setdefault("podAffinity", {})
        .setdefault("preferredDuringSchedulingIgnoredDuringExecution", [])
    )
    if term not in preferred:
        preferred.append(term)


def patch_statefulset(statefulset: dict[str, Any], gpus: int, settings: RoleSettings) -> None:
    """Give the role's pod template its GPUs, GPU node selection, tolerations and placement."""
    pod = statefulset.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    container = _app_container(pod)
    if container is not None:
        if gpus:
            _set_gpu_resources(container, gpus)
        _handle_visible_devices(container, gpus)
    if gpus:
        _add_toleration(pod)
        _add_node_affinity(pod, _gpu_expressions(settings))
    _add_placement(pod, settings.placement, _pod_selector(statefulset))
