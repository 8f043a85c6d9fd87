"""Apps, clusters and members for kd-spark's tests, built from the plugin's own catalog."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from kd_spark.package import catalog_path

import kubedirector_core as kd
from kubedirector_core.testing.plugin_fixtures import desired_members, role_resize

DOMAIN = "kdhs-fghjk.ns1.svc.cluster.local"


def _document(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((Path(catalog_path()) / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def app_wire() -> dict[str, Any]:
    """The spark3 app as written in the catalog."""
    return _document("spark3.yaml")


def app() -> kd.KubeDirectorApp:
    """The spark3 app."""
    return kd.KubeDirectorApp.from_wire(app_wire())


def cluster_wire(**members: int) -> dict[str, Any]:
    """The example cluster, with member counts changed by role id (``worker=4``)."""
    document = copy.deepcopy(_document("spark3-example-cluster.yaml"))
    for role in document["spec"]["roles"]:
        if role["id"] in members:
            role["members"] = members[role["id"]]
    return document


def cluster(
    annotations: dict[str, str] | None = None,
    worker_limits: dict[str, str] | None = None,
    **members: int,
) -> kd.KubeDirectorCluster:
    """The example cluster with counts, ``kd-spark/`` annotations and worker limits changed."""
    document = cluster_wire(**members)
    document["metadata"]["annotations"].update(annotations or {})
    for role in document["spec"]["roles"]:
        if worker_limits and role["id"] == "worker":
            role["resources"]["limits"] = dict(worker_limits)
    return kd.KubeDirectorCluster.from_wire(document)


def members(cluster: kd.KubeDirectorCluster) -> tuple[kd.Member, ...]:
    """The members a hook gets for ``cluster`` (see :func:`member` for their names)."""
    return desired_members(app(), cluster, DOMAIN)


def resize(cluster: kd.KubeDirectorCluster, role: str, current: int) -> kd.RoleResize:
    """The resize of ``role`` from ``current`` members to what ``cluster`` asks."""
    return role_resize(app(), cluster, role, current, DOMAIN)


def member(role: str, ordinal: int = 0) -> kd.Member:
    """A member as the core names it: ``<cluster>-<role>-<ordinal>`` in the headless domain."""
    pod = f"spark-example-{role}-{ordinal}"
    return kd.Member(name=pod, role=role, ordinal=ordinal, hostname=f"{pod}.{DOMAIN}")


def role_of(cluster: kd.KubeDirectorCluster, role_id: str) -> kd.ClusterRole:
    """The cluster's spec of ``role_id``."""
    role = cluster.role(role_id)
    assert role is not None
    return role
