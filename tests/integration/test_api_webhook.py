"""The admission webhook, served by the operator over TLS, rejects what the schema cannot.

Rules that need the app (cardinality, role ids) cannot be CRD schema or CEL:
the operator serves them as a validating webhook. The API server calls it on
loopback, trusting the local control plane's CA.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.processes import free_port
from kubedirector_core.runtime.admission import webhook_configurations
from kubedirector_core.testing.operator import OperatorProcess, grant_operator

pytestmark = pytest.mark.controlplane

COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "kubedirector"
APP = COMPAT / "apps" / "cr-app-spark245.json"
CLUSTER = COMPAT / "clusters" / "cr-cluster-spark245.yaml"


@pytest.fixture
def webhook_operator(
    control_plane: ControlPlane, kubedirector_crds: None, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator serving the webhooks; their configurations are removed afterwards."""
    pair = control_plane.serving_certificate("kubedirector-webhook")
    process = OperatorProcess(
        grant_operator(control_plane),
        [namespace],
        tmp_path / "operator.log",
        extra_args=[
            "--webhook-port",
            str(free_port()),
            "--webhook-cert",
            str(pair.cert),
            "--webhook-key",
            str(pair.key),
            "--webhook-ca",
            str(control_plane.ca_certificate),
        ],
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
        for configuration in webhook_configurations({"url": "https://unused"}):
            kind = configuration["kind"].lower()
            name = configuration["metadata"]["name"]
            control_plane.kubectl("delete", kind, name, "--ignore-not-found", check=False)


def dry_run_create(plane: ControlPlane, namespace: str, document: dict[str, Any]) -> str:
    """Create ``document`` server-side without persisting it; return kubectl's stderr."""
    result = plane.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(document),
        check=False,
    )
    return "" if result.returncode == 0 else result.stderr


def test_webhook_rejects_unknown_roles_and_bad_member_counts(
    control_plane: ControlPlane, namespace: str, webhook_operator: OperatorProcess
) -> None:
    if not APP.exists():
        pytest.skip(f"the KubeDirector compatibility corpus is not at {COMPAT}")
    control_plane.kubectl("apply", "-n", namespace, "-f", str(APP))
    cluster = yaml.safe_load(CLUSTER.read_text())

    unknown_role = copy.deepcopy(cluster)
    unknown_role["spec"]["roles"][1]["id"] = "spark-driver"
    deadline = time.monotonic() + 60
    message = dry_run_create(control_plane, namespace, unknown_role)
    while "admission webhook" not in message and time.monotonic() < deadline:
        assert webhook_operator.running, webhook_operator.log()[-3000:]
        time.sleep(0.5)
        message = dry_run_create(control_plane, namespace, unknown_role)
    assert 'admission webhook "validate-cluster.kubedirector.hpe.com" denied the request' in message
    assert "'spark-driver' is not a role of app" in message
    assert "spark-master" in message, "the message lists the app's roles"

    too_many = copy.deepcopy(cluster)
    livy = next(r for r in too_many["spec"]["roles"] if r["id"] == "livy-server")
    livy["members"] = 3
    message = dry_run_create(control_plane, namespace, too_many)
    assert "role 'livy-server' asks for 3 members but app" in message

    # The cluster as published passes, and the webhook configuration names our CA.
    assert dry_run_create(control_plane, namespace, cluster) == ""
    configuration = json.loads(
        control_plane.kubectl(
            "get", "validatingwebhookconfiguration", "kubedirector.hpe.com", "-o", "json"
        ).stdout
    )
    assert all(w["clientConfig"]["caBundle"] for w in configuration["webhooks"])
