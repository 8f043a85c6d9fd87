"""Fixtures: small valid documents that tests copy and break one field at a time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

API = "kubedirector.hpe.com/v1beta1"

_APP: dict[str, Any] = {
    "apiVersion": API,
    "kind": "KubeDirectorApp",
    "metadata": {"name": "spark"},
    "spec": {
        "label": {"name": "Spark"},
        "distroID": "example/spark",
        "version": "1.0",
        "configSchemaVersion": 7,
        "defaultImageRepoTag": "example/spark:1",
        "defaultConfigPackage": {"packageURL": "file:///opt/setup.tgz"},
        "services": [
            {
                "id": "web",
                "label": {"name": "Web"},
                "endpoint": {"port": 8080, "urlScheme": "http", "isDashboard": True},
            },
            {"id": "ssh", "endpoint": {"port": 22}},
        ],
        "roles": [
            {
                "id": "master",
                "cardinality": "1",
                "minResources": {"memory": "2Gi", "cpu": "1"},
            },
            {
                "id": "worker",
                "cardinality": "1+",
                "minStorage": {"size": "10Gi"},
            },
            {"id": "notebook", "cardinality": "0+"},
        ],
        "config": {
            "roleServices": [
                {"roleID": "master", "serviceIDs": ["web", "ssh"]},
                {"roleID": "worker", "serviceIDs": ["ssh"]},
            ],
            "selectedRoles": ["master", "worker", "notebook"],
        },
    },
}

_RESOURCES = {
    "requests": {"memory": "4Gi", "cpu": "2"},
    "limits": {"memory": "4Gi", "cpu": "2"},
}

_CLUSTER: dict[str, Any] = {
    "apiVersion": API,
    "kind": "KubeDirectorCluster",
    "metadata": {"name": "my-spark", "namespace": "default"},
    "spec": {
        "app": "spark",
        "roles": [
            {"id": "master", "members": 1, "resources": copy.deepcopy(_RESOURCES)},
            {
                "id": "worker",
                "members": 2,
                "resources": copy.deepcopy(_RESOURCES),
                "storage": {"size": "20Gi"},
            },
        ],
    },
}


@pytest.fixture
def app_doc() -> dict[str, Any]:
    """A fresh, valid KubeDirectorApp document."""
    return copy.deepcopy(_APP)


@pytest.fixture
def cluster_doc() -> dict[str, Any]:
    """A fresh, valid KubeDirectorCluster document for :func:`app_doc`."""
    return copy.deepcopy(_CLUSTER)
