"""A minimal one-role app (role ``worker``, cardinality ``1+``) for runtime unit tests."""

from __future__ import annotations

from typing import Any

DEMO_APP: dict[str, Any] = {
    "apiVersion": "kubedirector.hpe.com/v1beta1",
    "kind": "KubeDirectorApp",
    "metadata": {"name": "demo"},
    "spec": {
        "label": {"name": "demo"},
        "distroID": "example/demo",
        "version": "1",
        "configSchemaVersion": 7,
        "defaultImageRepoTag": "busybox:1",
        "roles": [{"id": "worker", "cardinality": "1+"}],
        "config": {"roleServices": [], "selectedRoles": ["worker"]},
    },
}
