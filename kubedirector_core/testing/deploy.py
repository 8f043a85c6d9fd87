"""deploy/ as integration tests run it: the operator's service account and Deployment arguments.

Tests that check what ``deploy/`` ships run the operator as a subprocess with
that account's identity and the Deployment's own arguments:

* ``operator_account`` (module fixture): ``deploy/namespace.yaml`` and
  ``deploy/rbac.yaml`` applied, and a kubeconfig (a path) whose user is the
  account, with a token from the TokenRequest API, exactly as a pod's
  projected token would be; the RBAC is deleted afterwards. Import it into the
  test module that uses it.
* :func:`deployment_arguments`: the Deployment's ``run`` arguments with the
  servers moved to free loopback ports;
* :func:`lease_holder`: who holds the leader-election Lease;
* :func:`remove_webhook_configurations`: deploy/'s two admission webhook
  configurations deleted (they fail closed: one left behind by a failed test
  refuses every later test's apps and clusters);
* :func:`refused_requests`: the lines of an operator log that report a
  request the API server refused as forbidden.

``deploy/`` is read from the source checkout this package was imported from
(an editable install), like :mod:`kubedirector_core.testing.packaging`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.loopback import free_port

__all__ = [
    "DEPLOY",
    "LEASE",
    "OPERATOR_NAMESPACE",
    "SERVICE_ACCOUNT",
    "WEBHOOK_CONFIGURATION",
    "deployment_arguments",
    "lease_holder",
    "operator_account",
    "refused_requests",
    "remove_webhook_configurations",
]

#: The checkout's deploy/ folder.
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: The namespace deploy/ installs the operator into.
OPERATOR_NAMESPACE = "kubedirector"
#: The operator's service account in deploy/rbac.yaml.
SERVICE_ACCOUNT = "kubedirector-operator"
#: The leader-election Lease the Deployment's replicas compete for.
LEASE = "kubedirector-operator"
#: The name of deploy/'s ValidatingWebhookConfiguration and MutatingWebhookConfiguration.
WEBHOOK_CONFIGURATION = "kubedirector.hpe.com"
# An HTTP 403 as the clients print it ("(403)", "403,", "code': 403}"), not digits of a
# port ("127.0.0.1:37403"), a timestamp ("18.403") or a longer number.
_STATUS_403 = re.compile(r"(?<![\w.:])403(?![\w.])")


@pytest.fixture(scope="module")
def operator_account(
    control_plane: ControlPlane, kubedirector_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """deploy/'s namespace and RBAC applied; a kubeconfig with the account's requested token."""
    files = [DEPLOY / "namespace.yaml", DEPLOY / "rbac.yaml"]
    arguments = [item for path in files for item in ("-f", str(path))]
    control_plane.kubectl("apply", "--server-side", *arguments)
    token = control_plane.kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=2h"
    ).stdout.strip()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    kubeconfig = tmp_path_factory.mktemp("account") / "operator.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dev", "cluster": cluster}],
                "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "dev", "user": SERVICE_ACCOUNT}}
                ],
                "current-context": "dev",
            }
        )
    )
    kubeconfig.chmod(0o600)
    yield kubeconfig
    control_plane.kubectl("delete", "--ignore-not-found", "-f", str(DEPLOY / "rbac.yaml"))


def _operator_container() -> dict[str, Any]:
    documents = yaml.safe_load_all((DEPLOY / "operator.yaml").read_text())
    deployment = next(d for d in documents if d and d["kind"] == "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def deployment_arguments() -> list[str]:
    """The Deployment's ``run`` arguments as a test runs them.

    ``$(POD_NAMESPACE)`` is expanded as the kubelet would, and the metrics,
    probe and webhook servers listen on free loopback ports instead of
    :8080/:8081/:9443 (this machine is shared).
    """
    args = list(_operator_container()["args"])
    assert args[0] == "run"
    adapted = []
    for arg in args[1:]:
        flag = arg.split("=", 1)[0]
        if flag in ("--metrics-bind-address", "--health-probe-bind-address", "--webhook-listen"):
            arg = f"{flag}=127.0.0.1:{free_port()}"
        adapted.append(arg.replace("$(POD_NAMESPACE)", OPERATOR_NAMESPACE))
    return adapted


def lease_holder(control_plane: ControlPlane, namespace: str = OPERATOR_NAMESPACE) -> str:
    """The identity holding the operator's Lease in ``namespace``; "" when none does (or yet)."""
    return control_plane.kubectl(
        "get", "lease", LEASE, "-n", namespace,
        "-o", "jsonpath={.spec.holderIdentity}", check=False,
    ).stdout  # fmt: skip


def remove_webhook_configurations(control_plane: ControlPlane) -> None:
    """Delete deploy/'s admission webhook configurations if they exist.

    Both fail closed: left registered without a replica behind them, they make
    the API server refuse every KubeDirectorApp and KubeDirectorCluster write.
    """
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        control_plane.kubectl("delete", kind, WEBHOOK_CONFIGURATION, "--ignore-not-found")


def refused_requests(log: str) -> list[str]:
    """The lines of an operator log that report a forbidden request (HTTP 403)."""
    return [
        line for line in log.splitlines() if "forbidden" in line.lower() or _STATUS_403.search(line)
    ]
