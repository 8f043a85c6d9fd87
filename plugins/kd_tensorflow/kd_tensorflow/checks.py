"""Validation of TensorFlow apps and clusters: pure rules that return problems."""

from __future__ import annotations

from kd_tensorflow import gpu
from kd_tensorflow.settings import (
    ALL_KEYS,
    MAX_WORKERS,
    MIN_WORKERS,
    PREFIX,
    ROLE_KEYS,
    ClusterSettings,
    read_cluster_settings,
    read_role_settings,
)
from kd_tensorflow.tfconfig import is_training_app, role_members
from kubedirector_core import KubeDirectorApp, KubeDirectorCluster, Problem, Severity


def check_app(app: KubeDirectorApp) -> list[Problem]:
    """A training app has exactly one chief and at most one evaluator; its defaults parse."""
    problems = []
    for index, role in enumerate(app.spec.roles):
        if role.id == "chief" and role.cardinality != "1":
            problems.append(
                Problem(
                    f"spec.roles[{index}].cardinality",
                    f"a TensorFlow cluster has exactly one chief: set cardinality '1', "
                    f"not {role.cardinality!r}",
                )
            )
        if role.id == "evaluator" and role.min_members > 1:
            problems.append(
                Problem(
                    f"spec.roles[{index}].cardinality",
                    "TensorFlow runs at most one evaluator: use cardinality '0+' "
                    "(this plugin refuses more than one) or '1'",
                )
            )
    for key in sorted(app.spec.config.config_meta or {}):
        if key.startswith(PREFIX) and key not in ALL_KEYS:
            problems.append(_unknown_key(f"spec.config.configMeta.{key}", key))
    return problems


def _unknown_key(path: str, key: str) -> Problem:
    known = ", ".join(sorted(k.removeprefix(PREFIX) for k in ALL_KEYS))
    return Problem(
        path,
        f"{key} is not a setting of kd-tensorflow (a typo?); known: {known}",
        Severity.WARNING,
    )


def _annotation_problems(cluster: KubeDirectorCluster) -> list[Problem]:
    problems = []
    for key in sorted(cluster.metadata.annotations or {}):
        if key.startswith(PREFIX) and key not in ALL_KEYS:
            problems.append(_unknown_key(f"metadata.annotations.{key}", key))
    for index, role in enumerate(cluster.spec.roles):
        for key in sorted(role.pod_annotations or {}):
            path = f"spec.roles[{index}].podAnnotations.{key}"
            if key.startswith(PREFIX) and key not in ROLE_KEYS:
                where = "a cluster-wide setting" if key in ALL_KEYS else "not a setting"
                problems.append(
                    Problem(
                        path,
                        f"{key} is {where}; set it in the cluster's metadata.annotations "
                        "(a role may only override "
                        f"{', '.join(sorted(k.removeprefix(PREFIX) for k in ROLE_KEYS))})",
                        Severity.WARNING,
                    )
                )
    return problems


def _role_index(cluster: KubeDirectorCluster, role_id: str) -> int | None:
    return next((i for i, role in enumerate(cluster.spec.roles) if role.id == role_id), None)


def _elastic_problems(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, settings: ClusterSettings
) -> list[Problem]:
    low, high = settings.min_workers, settings.max_workers
    if low is not None and high is not None and low > high:
        return [
            Problem(
                f"metadata.annotations.{MIN_WORKERS}",
                f"the elastic worker bounds are reversed: min {low} > max {high}",
            )
        ]
    if not settings.elastic:
        if low is not None or high is not None:
            return [
                Problem(
                    f"metadata.annotations.{MIN_WORKERS if low is not None else MAX_WORKERS}",
                    "worker bounds only apply to elastic training: also set "
                    f"{PREFIX}elastic: 'true'",
                    Severity.WARNING,
                )
            ]
        return []
    index = _role_index(cluster, "worker")
    workers = role_members(app, cluster, "worker")
    if index is None:
        return []
    if (low is not None and workers < low) or (high is not None and workers > high):
        return [
            Problem(
                f"spec.roles[{index}].members",
                f"{workers} workers is outside the elastic bounds "
                f"{low if low is not None else 1}..{high if high is not None else 'any'}",
            )
        ]
    return []


def _evaluator_problems(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    index = _role_index(cluster, "evaluator")
    count = role_members(app, cluster, "evaluator")
    if index is None or count <= 1:
        return []
    return [
        Problem(
            f"spec.roles[{index}].members",
            f"{count} evaluators asked for; TensorFlow runs at most one: set members to 0 or 1",
        )
    ]


def check_cluster(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[Problem]:
    """Everything wrong with a cluster of a TensorFlow app, errors and warnings."""
    settings, problems = read_cluster_settings(app, cluster)
    problems += _annotation_problems(cluster)
    for index, role in enumerate(cluster.spec.roles):
        gpus, found = gpu.gpu_problems(role, index)
        role_settings, role_found = read_role_settings(app, cluster, index)
        problems += found + role_found
        problems += gpu.capacity_problems(gpus, settings.max_gpus_per_node, index)
        problems += gpu.ps_warning(role, gpus, index)
        problems += gpu.visible_devices_warning(role, gpus, index)
        problems += gpu.selection_warning(role_settings, gpus, role, index)
    if is_training_app(app):
        problems += _evaluator_problems(app, cluster)
        problems += _elastic_problems(app, cluster, settings)
    return problems
