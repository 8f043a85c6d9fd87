"""The tensorflow plugin: distributed TensorFlow with GPU scheduling, TF_CONFIG and gang admission.

Each hook is a thin adapter from the core's arguments to the pure functions of
:mod:`kd_tensorflow.checks`, :mod:`kd_tensorflow.gpu`,
:mod:`kd_tensorflow.tfconfig` and :mod:`kd_tensorflow.policies`. Settings are
read from annotations (see :mod:`kd_tensorflow.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kd_tensorflow import checks, gpu, policies
from kd_tensorflow.settings import cluster_settings, role_settings
from kd_tensorflow.tfconfig import (
    TF_CONFIG_PATH,
    cluster_spec,
    is_training_app,
    member_files,
    membership_digest,
    task_of,
    training_tasks,
)
from kubedirector_core import (
    AutoscaleInput,
    ClusterRole,
    GangPolicy,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MemberFile,
    NodeDown,
    NodeDownDecision,
    Problem,
    ResizeDecision,
    RoleResize,
    hookimpl,
)

#: Patterns matched against an app's distroID and name (see ``kd_claims``).
CLAIMS = ("*/tensorflow*",)

#: The environment variable telling the app where its TF_CONFIG file is.
TF_CONFIG_FILE_ENV = "TF_CONFIG_FILE"


@hookimpl
def kd_claims() -> Sequence[str]:
    """Claim the TensorFlow app types."""
    return CLAIMS


@hookimpl
def kd_validate_app(app: KubeDirectorApp) -> Sequence[Problem]:
    """One chief, at most one evaluator, and well-formed default settings."""
    return checks.check_app(app)


@hookimpl
def kd_validate_cluster(cluster: KubeDirectorCluster, app: KubeDirectorApp) -> Sequence[Problem]:
    """Whole GPUs with requests equal to limits, within a node's capacity; valid settings."""
    return checks.check_cluster(app, cluster)


@hookimpl
def kd_pre_create(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    objects: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Give the role's pods their GPUs, GPU node selection, tolerations and placement."""
    index = next((i for i, r in enumerate(cluster.spec.roles) if r.id == role.id), None)
    settings = role_settings(app, cluster, index)
    gpus = gpu.gpus_of(role)
    tells_tf_config = is_training_app(app) and role.id in {"chief", "worker", "ps", "evaluator"}
    for manifest in objects:
        if manifest.get("kind") != "StatefulSet":
            continue
        gpu.patch_statefulset(manifest, gpus, settings)
        if tells_tf_config:
            _add_env(manifest, TF_CONFIG_FILE_ENV, TF_CONFIG_PATH)
    return objects


def _add_env(statefulset: dict[str, Any], name: str, value: str) -> None:
    pod = statefulset.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers") or []:
        env = container.setdefault("env", [])
        if not any(var.get("name") == name for var in env):
            env.append({"name": name, "value": value})


@hookimpl
def kd_configmeta(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> Mapping[str, Any] | None:
    """The training cluster spec, each member's task, and the restart semantics."""
    settings = cluster_settings(app, cluster)
    gpus = {role.id: gpu.gpus_of(role) for role in cluster.spec.roles}
    if not is_training_app(app):
        return {"gpus": gpus}
    tasks = training_tasks(app, cluster)
    spec = cluster_spec(tasks)
    return {
        "cluster": spec,
        "tasks": {task.member: {"type": task.type, "index": task.index} for task in tasks},
        "membership": membership_digest(spec),
        "tf_config_path": TF_CONFIG_PATH,
        "restart_policy": "elastic-workers" if settings.elastic else "group",
        "gang": settings.gang,
        "gpus": gpus,
    }


@hookimpl
def kd_member_files(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, member: Member
) -> Sequence[MemberFile] | None:
    """TF_CONFIG (as JSON and as a shell export) and the restart script, for task members."""
    if not is_training_app(app):
        return None
    tasks = training_tasks(app, cluster, member)
    task = task_of(tasks, member)
    if task is None:
        return None
    return member_files(cluster_spec(tasks), task)


@hookimpl
def kd_gang_policy(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> GangPolicy | None:
    """Admit every member of a training cluster together, unless gang is set off."""
    if not is_training_app(app):
        return None
    return policies.gang_policy(app, cluster, cluster_settings(app, cluster))


@hookimpl
def kd_on_resize(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
) -> ResizeDecision | None:
    """Restart the training group on a non-elastic membership change."""
    if not is_training_app(app):
        return None
    return policies.resize_decision(app, cluster, resize, cluster_settings(app, cluster))


@hookimpl
def kd_on_node_down(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, event: NodeDown
) -> NodeDownDecision | None:
    """Restart the group for a lost task; replace only an elastic worker or the evaluator."""
    if not is_training_app(app):
        return None
    return policies.node_down_decision(event, cluster_settings(app, cluster))


@hookimpl
def kd_autoscale_policy(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
) -> int | None:
    """Scale elastic workers by GPU use within their bounds; keep every other count."""
    if not is_training_app(app):
        return None
    return policies.autoscale(request, cluster_settings(app, cluster))
