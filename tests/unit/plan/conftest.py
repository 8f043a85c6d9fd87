"""Apps, clusters and hooks for the planner's tests."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plugins import Hooks, PluginSettings, make_plugin_manager

from .simulate import Sim

#: The corpus of real KubeDirector files lives next to the project, never inside it.
CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "compat" / "kubedirector"

API = "kubedirector.hpe.com/v1beta1"
ISOLATED = PluginSettings(autoload=False)

APP: dict[str, Any] = {
    "apiVersion": API,
    "kind": "KubeDirectorApp",
    "metadata": {"name": "demo"},
    "spec": {
        "label": {"name": "Demo"},
        "distroID": "example/demo",
        "version": "1.0",
        "configSchemaVersion": 7,
        "defaultImageRepoTag": "example/demo:1",
        "defaultConfigPackage": {"packageURL": "file:///opt/setup/demo.tgz"},
        "services": [
            {
                "id": "web",
                "label": {"name": "Web UI"},
                "endpoint": {"port": 8080, "urlScheme": "http", "isDashboard": True},
            },
            {"id": "rpc", "label": {"name": "RPC"}, "endpoint": {"port": 7077}},
            {"id": "agent", "label": {"name": "Agent"}},
        ],
        "roles": [
            {"id": "master", "cardinality": "1"},
            {"id": "worker", "cardinality": "1+", "persistDirs": ["/data", "/etc/demo"]},
            {"id": "edge", "cardinality": "0+", "eventList": ["configure"]},
        ],
        "config": {
            "roleServices": [
                {"roleID": "master", "serviceIDs": ["web", "rpc"]},
                {"roleID": "worker", "serviceIDs": ["rpc", "agent"]},
                {"roleID": "edge", "serviceIDs": ["agent"]},
            ],
            "selectedRoles": ["master", "worker", "edge"],
            "configMeta": {"tier": "test"},
        },
    },
}

RESOURCES = {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "1", "memory": "4Gi"}}

CLUSTER: dict[str, Any] = {
    "apiVersion": API,
    "kind": "KubeDirectorCluster",
    "metadata": {"name": "demo1", "namespace": "ns", "uid": "uid-demo1", "generation": 1},
    "spec": {
        "app": "demo",
        "serviceType": "ClusterIP",
        "roles": [
            {"id": "master", "members": 1, "resources": RESOURCES},
            {"id": "worker", "members": 3, "resources": RESOURCES},
            {"id": "edge", "members": 1, "resources": RESOURCES},
        ],
    },
}


def app_wire() -> dict[str, Any]:
    """A fresh copy of the test app."""
    return copy.deepcopy(APP)


def cluster_wire() -> dict[str, Any]:
    """A fresh copy of the test cluster."""
    return copy.deepcopy(CLUSTER)


def isolated_hooks(*plugins: tuple[str, object]) -> Hooks:
    """The core's defaults and ``plugins`` only."""
    return Hooks(make_plugin_manager(ISOLATED, plugins=plugins, entry_points=()), ISOLATED)


@pytest.fixture
def hooks() -> Hooks:
    """Hooks with no plugin but the core's defaults."""
    return isolated_hooks()


@pytest.fixture
def app() -> KubeDirectorApp:
    """The test app."""
    return KubeDirectorApp.from_wire(app_wire())


@pytest.fixture
def cluster() -> KubeDirectorCluster:
    """The test cluster: 1 master, 3 workers, 1 edge."""
    return KubeDirectorCluster.from_wire(cluster_wire())


@pytest.fixture
def sim(app: KubeDirectorApp, hooks: Hooks) -> Sim:
    """The test cluster, reconciled by a simulated runtime."""
    return Sim(app=app, cluster=cluster_wire(), hooks=hooks)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The KubeDirector compatibility corpus (skips when absent)."""
    if not CORPUS.is_dir():
        pytest.skip(f"the KubeDirector compatibility corpus is not at {CORPUS}")
    return CORPUS


def load_document(path: Path) -> dict[str, Any]:
    """The first document of a JSON or YAML file."""
    if path.suffix == ".json":
        document: dict[str, Any] = json.loads(path.read_text())
        return document
    return next(doc for doc in yaml.safe_load_all(path.read_text()) if doc)


@pytest.fixture(scope="session")
def corpus_pairs(corpus: Path) -> list[tuple[str, KubeDirectorApp, KubeDirectorCluster]]:
    """Every corpus cluster with its app: (file name, app, cluster)."""
    apps = {}
    for path in sorted((corpus / "apps").iterdir()):
        app = KubeDirectorApp.from_wire(load_document(path))
        apps[app.name] = app
    pairs = []
    for path in sorted((corpus / "clusters").iterdir()):
        cluster = KubeDirectorCluster.from_wire(load_document(path))
        pairs.append((path.name, apps[cluster.spec.app], cluster))
    return pairs


Builder = Callable[..., Any]
