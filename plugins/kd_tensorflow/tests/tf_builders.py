"""Builders of TensorFlow apps, clusters and members for the plugin's tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from kd_tensorflow import catalog_path, plugin

import kubedirector_core as kd
from kubedirector_core.testing.conformance import sample_role_objects
from kubedirector_core.testing.plugin_fixtures import isolated_hooks, load_resource

CATALOG = catalog_path()
GPU_APP = CATALOG / "tensorflow-training-gpu.yaml"
CPU_APP = CATALOG / "tensorflow-training.yaml"
GPU_CLUSTER = CATALOG / "tensorflow-training-gpu-cluster.yaml"
CPU_CLUSTER = CATALOG / "tensorflow-training-cpu-cluster.yaml"
DOMAIN = "kdhs-abc12.ml.svc.cluster.local"


def hooks() -> kd.Hooks:
    """The core's defaults and this plugin alone, called as the core calls them."""
    return isolated_hooks(("tensorflow", plugin))


def app(path: Path = GPU_APP) -> kd.KubeDirectorApp:
    return load_resource(path, kd.KubeDirectorApp)


def wire(path: Path = GPU_CLUSTER) -> dict[str, Any]:
    """A cluster document to change before building it."""
    return copy.deepcopy(load_resource(path, kd.KubeDirectorCluster).to_wire())


def cluster(document: dict[str, Any] | Path = GPU_CLUSTER) -> kd.KubeDirectorCluster:
    if isinstance(document, Path):
        return load_resource(document, kd.KubeDirectorCluster)
    return kd.KubeDirectorCluster.from_wire(document)


def role_doc(document: dict[str, Any], role_id: str) -> dict[str, Any]:
    role: dict[str, Any] = next(r for r in document["spec"]["roles"] if r["id"] == role_id)
    return role


def add_role(document: dict[str, Any], role_id: str, members: int, **extra: Any) -> None:
    role = {
        "id": role_id,
        "members": members,
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    role.update(extra)
    document["spec"]["roles"].append(role)


def member(
    the_cluster: kd.KubeDirectorCluster, role: str, ordinal: int, domain: str = DOMAIN
) -> kd.Member:
    name = f"{the_cluster.name}-{role}-{ordinal}"
    return kd.Member(name=name, role=role, ordinal=ordinal, hostname=f"{name}.{domain}")


def statefulset(
    the_app: kd.KubeDirectorApp, the_cluster: kd.KubeDirectorCluster, role_id: str
) -> dict[str, Any]:
    """The role's StatefulSet after the plugin's kd_pre_create."""
    role = the_cluster.role(role_id)
    assert role is not None
    rendered = hooks().pre_create(
        the_app, the_cluster, role, sample_role_objects(the_cluster, role)
    )
    [found] = [o for o in rendered if o["kind"] == "StatefulSet"]
    return found


def pod_spec(the_statefulset: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = the_statefulset["spec"]["template"]["spec"]
    return spec


def env_of(the_statefulset: dict[str, Any]) -> dict[str, str]:
    container = pod_spec(the_statefulset)["containers"][0]
    return {var["name"]: var.get("value", "") for var in container.get("env", [])}
