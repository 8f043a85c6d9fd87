"""The operator pod the Helm chart renders passes the restricted Pod Security profile.

The API server's own PodSecurity admission judges it (server-side dry run in
a namespace that enforces ``restricted``); a copy without ``runAsNonRoot`` is
refused, so the check is not vacuous.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.tools import helm_binary

pytestmark = pytest.mark.controlplane

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "kubedirector"


def rendered_operator_pod(namespace: str) -> dict[str, Any]:
    """A Pod made of the chart's Deployment pod template (default values)."""
    result = subprocess.run(
        [str(helm_binary()), "template", "kd", str(CHART), "--namespace", namespace],
        capture_output=True,
        text=True,
        check=True,
    )
    deployment = next(
        d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment"
    )
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "kubedirector-operator-check",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }


def dry_run_create(
    control_plane: ControlPlane, pod: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return control_plane.kubectl(
        "create", "--dry-run=server", "-o", "name", "-f", "-", input=json.dumps(pod), check=False
    )


def test_the_rendered_operator_pod_passes_the_restricted_profile(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    control_plane.kubectl("create", "serviceaccount", "kubedirector-operator", "-n", namespace)
    pod = rendered_operator_pod(namespace)

    accepted = dry_run_create(control_plane, pod)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == "pod/kubedirector-operator-check"

    weakened = copy.deepcopy(pod)
    del weakened["spec"]["securityContext"]["runAsNonRoot"]
    for container in weakened["spec"]["containers"]:
        del container["securityContext"]["runAsNonRoot"]
    refused = dry_run_create(control_plane, weakened)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    assert "runAsNonRoot" in refused.stderr
