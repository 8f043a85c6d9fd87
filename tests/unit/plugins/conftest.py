"""Apps, clusters and plugins shared by the plugin-platform tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubedirector_core import ClusterRole, KubeDirectorApp, KubeDirectorCluster, Member


def _make_app(distro_id: str = "example/demo", name: str = "demo") -> KubeDirectorApp:
    """A minimal valid app with one role, ``worker``."""
    return KubeDirectorApp.from_wire(
        {
            "apiVersion": "kubedirector.hpe.com/v1beta1",
            "kind": "KubeDirectorApp",
            "metadata": {"name": name},
            "spec": {
                "label": {"name": name},
                "distroID": distro_id,
                "version": "1",
                "configSchemaVersion": 7,
                "defaultImageRepoTag": "busybox:1",
                "roles": [{"id": "worker", "cardinality": "1+"}],
                "config": {"roleServices": [], "selectedRoles": ["worker"]},
            },
        }
    )


def _make_cluster(
    app: str = "demo", members: int = 2, labels: dict[str, str] | None = None
) -> KubeDirectorCluster:
    """A cluster of ``app`` with ``members`` workers."""
    metadata: dict[str, Any] = {"name": "c1", "namespace": "ns"}
    if labels:
        metadata["labels"] = labels
    return KubeDirectorCluster.from_wire(
        {
            "apiVersion": "kubedirector.hpe.com/v1beta1",
            "kind": "KubeDirectorCluster",
            "metadata": metadata,
            "spec": {
                "app": app,
                "roles": [
                    {
                        "id": "worker",
                        "members": members,
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    }
                ],
            },
        }
    )


@pytest.fixture
def app() -> KubeDirectorApp:
    """An app of distroID ``example/demo``."""
    return _make_app()


@pytest.fixture
def other_app() -> KubeDirectorApp:
    """An app nobody in these tests claims."""
    return _make_app("elsewhere/other", "other")


@pytest.fixture
def cluster() -> KubeDirectorCluster:
    """A two-worker cluster of ``app``."""
    return _make_cluster()


@pytest.fixture
def role(cluster: KubeDirectorCluster) -> ClusterRole:
    """The cluster's worker role."""
    return cluster.spec.roles[0]


@pytest.fixture
def member() -> Member:
    """The first worker."""
    return Member(name="c1-worker-0", role="worker", ordinal=0, hostname="c1-worker-0.ns")


@pytest.fixture
def make_app() -> Callable[..., KubeDirectorApp]:
    """Build an app: ``make_app(distro_id, name)``."""
    return _make_app


@pytest.fixture
def make_cluster() -> Callable[..., KubeDirectorCluster]:
    """Build a cluster: ``make_cluster(app, members, labels)``."""
    return _make_cluster
