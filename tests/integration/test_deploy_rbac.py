"""The operator does its whole job as deploy/'s service account with only deploy/'s RBAC.

The account's token comes from the TokenRequest API, exactly as a pod's
projected token would; the operator runs with the Deployment's own arguments.
What the account may do is compared with the reviewed table below: a
permission added to deploy/rbac.yaml fails this test until the table (and the
review it stands for) is updated.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.deploy import (
    OPERATOR_NAMESPACE,
    deployment_arguments,
    lease_holder,
    operator_account,
    refused_requests,
)
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    make_setup_package,
    members,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

__all__ = ["operator_account"]

pytestmark = pytest.mark.controlplane

#: Everything the operator's account may do, as (apiGroup, resource, verb,
#: resourceName or "*" for any), reviewed. The last block is what Kubernetes
#: grants every authenticated user (system:basic-user).
CLUSTER_WIDE: frozenset[tuple[str, str, str, str]] = frozenset(
    {
        ("kubedirector.hpe.com", "kubedirectorclusters", "list", "*"),
        ("kubedirector.hpe.com", "kubedirectorclusters", "watch", "*"),
        ("kubedirector.hpe.com", "kubedirectorclusters", "patch", "*"),
        ("kubedirector.hpe.com", "kubedirectorclusters/status", "patch", "*"),
        ("kubedirector.hpe.com", "kubedirectorapps", "get", "*"),
        ("kubedirector.hpe.com", "kubedirectorapps", "list", "*"),
        ("kubedirector.hpe.com", "kubedirectorapps", "watch", "*"),
        *(
            (group, resource, verb, "*")
            for group, resource in (
                ("apps", "statefulsets"),
                ("", "services"),
                ("", "configmaps"),
                ("", "secrets"),
                ("", "persistentvolumeclaims"),
            )
            for verb in ("list", "watch", "create", "patch", "delete")
        ),
        # Connected ConfigMaps and Secrets, read by name for configmeta.
        ("", "configmaps", "get", "*"),
        ("", "secrets", "get", "*"),
        *(("", "pods", verb, "*") for verb in ("get", "list", "watch", "patch", "delete")),
        ("", "pods/exec", "get", "*"),
        ("", "pods/exec", "create", "*"),
        ("", "events", "create", "*"),
        ("", "nodes", "list", "*"),
        ("", "nodes", "watch", "*"),
        ("", "persistentvolumes", "get", "*"),
        ("storage.k8s.io", "storageclasses", "list", "*"),
        ("storage.k8s.io", "storageclasses", "watch", "*"),
        ("metrics.k8s.io", "pods", "list", "*"),
        # The admission webhooks' caBundle, on the two configurations deploy/ ships:
        *(
            ("admissionregistration.k8s.io", resource, verb, "kubedirector.hpe.com")
            for resource in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
            for verb in ("get", "patch")
        ),
        # Every authenticated user:
        ("authorization.k8s.io", "selfsubjectaccessreviews", "create", "*"),
        ("authorization.k8s.io", "selfsubjectrulesreviews", "create", "*"),
        ("authentication.k8s.io", "selfsubjectreviews", "create", "*"),
    }
)
#: Only in the operator's own namespace: leader election's Lease, KubeDirectorConfig
#: kd-global-config, the webhook's TLS Secret (its create is ("", "secrets", "create",
#: "*"), already granted cluster-wide).
OPERATOR_NAMESPACE_ONLY: frozenset[tuple[str, str, str, str]] = frozenset(
    {
        ("coordination.k8s.io", "leases", "create", "*"),
        ("coordination.k8s.io", "leases", "get", "kubedirector-operator"),
        ("coordination.k8s.io", "leases", "update", "kubedirector-operator"),
        ("", "secrets", "get", "kubedirector-webhook-tls"),
        ("", "secrets", "update", "kubedirector-webhook-tls"),
        # The operator's settings: only kd-global-config, read and watched by name.
        *(
            ("kubedirector.hpe.com", "kubedirectorconfigs", verb, "kd-global-config")
            for verb in ("get", "list", "watch")
        ),
    }
)


def test_the_operator_runs_a_cluster_as_its_service_account_with_only_deploys_rbac(
    control_plane: ControlPlane, operator_account: Path, namespace: str, tmp_path: Path
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    arguments = deployment_arguments()
    assert "--leader-elect" in arguments
    process = OperatorProcess(
        operator_account,
        [],  # every namespace, as the Deployment does
        tmp_path / "operator.log",
        extra_args=arguments,
        env={"POD_NAME": "kubedirector-operator-test", "POD_NAMESPACE": OPERATOR_NAMESPACE},
    )
    process.start()
    try:
        # It leads through the Lease its Role allows it.
        wait_until(
            "the operator holding the Lease",
            lambda: lease_holder(control_plane) == "kubedirector-operator-test",
            timeout=120,
        )
        apply(control_plane, namespace, recorder_cluster(2, storage=True))
        assert len(members(wait_ready(control_plane, namespace, timeout=180))) == 2
        apply(control_plane, namespace, recorder_cluster(3, storage=True))
        assert len(members(wait_ready(control_plane, namespace, timeout=180))) == 3
        apply(control_plane, namespace, recorder_cluster(1, storage=True))
        assert len(members(wait_ready(control_plane, namespace, timeout=180))) == 1
        events = control_plane.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=rec"
        ).stdout
        assert "rec" in events, "the operator posted no Event about the cluster"
        described = control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
        assert "forbidden" not in described.lower(), "a request of the operator was forbidden"

        control_plane.kubectl(
            "delete", "kubedirectorcluster", "rec", "-n", namespace, "--wait=false"
        )

        def children_gone() -> bool:
            left = control_plane.kubectl(
                "get",
                "statefulsets,services,pvc,pods,configmaps,secrets",
                "-n",
                namespace,
                "-l",
                "kubedirector.hpe.com/kdcluster",
                "-o",
                "name",
            ).stdout.strip()
            gone = control_plane.kubectl(
                "get", "kubedirectorcluster", "rec", "-n", namespace, check=False
            )
            return not left and gone.returncode != 0

        wait_until("the cluster and every child gone", children_gone, timeout=180)
        assert process.running, process.log()[-3000:]
    finally:
        process.stop()
        # Captured: shown only when the test fails.
        sys.stderr.write(f"----- operator log -----\n{process.log()[-20000:]}")
    assert refused_requests(process.log()) == []


def _kubectl(control_plane: ControlPlane, kubeconfig: Path) -> list[str]:
    return [str(control_plane.kubectl_path), "--kubeconfig", str(kubeconfig)]


def _rules(kubeconfig: Path, control_plane: ControlPlane, namespace: str) -> set[tuple[str, ...]]:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }
    path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
    result = subprocess.run(
        [*_kubectl(control_plane, kubeconfig), "create", "--raw", path, "-f", "-"],
        input=json.dumps(review),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["status"]
    assert not status.get("incomplete"), status
    granted: set[tuple[str, ...]] = set()
    for rule in status["resourceRules"]:
        for group in rule.get("apiGroups") or [""]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or ["*"]:
                        granted.add((group, resource, verb, name))
    return granted


def test_the_operator_account_can_do_exactly_what_the_reviewed_table_lists(
    control_plane: ControlPlane, operator_account: Path, namespace: str
) -> None:
    in_workload_namespace = _rules(operator_account, control_plane, namespace)
    in_own_namespace = _rules(operator_account, control_plane, OPERATOR_NAMESPACE)
    assert in_workload_namespace - CLUSTER_WIDE == set(), "permissions not in the reviewed table"
    assert CLUSTER_WIDE - in_workload_namespace == set(), "reviewed permissions not granted"
    expected_own = CLUSTER_WIDE | OPERATOR_NAMESPACE_ONLY
    assert in_own_namespace - expected_own == set(), "permissions not in the reviewed table"
    assert expected_own - in_own_namespace == set(), "reviewed permissions not granted"
    assert not any("*" in (group, resource, verb) for group, resource, verb, _ in in_own_namespace)
    # The account is no cluster admin: it cannot read the operator's own RBAC, for one.
    denied = subprocess.run(
        [
            *_kubectl(control_plane, operator_account),
            "auth",
            "can-i",
            "create",
            "clusterrolebindings",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert denied.stdout.strip() == "no"
