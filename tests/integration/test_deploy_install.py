"""``kubedirector install`` / ``uninstall`` on the real control plane.

Objects appear with install and disappear with uninstall; the CRDs and a
user's KubeDirectorCluster survive an uninstall without ``--delete-crds``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.deploy import remove_webhook_configurations
from kubedirector_core.testing.operator import (
    apply,
    get_cluster,
    make_setup_package,
    recorder_app,
    recorder_cluster,
    wait_until,
)

pytestmark = pytest.mark.controlplane

INSTALLED = [
    ("serviceaccount", "kubedirector/kubedirector-operator"),
    ("clusterrole", "kubedirector-operator"),
    ("clusterrolebinding", "kubedirector-operator"),
    ("role", "kubedirector/kubedirector-operator"),
    ("rolebinding", "kubedirector/kubedirector-operator"),
    ("deployment", "kubedirector/kubedirector-operator"),
    ("service", "kubedirector/kubedirector-webhook"),
    ("validatingwebhookconfiguration", "kubedirector.hpe.com"),
    ("mutatingwebhookconfiguration", "kubedirector.hpe.com"),
]
DEPLOY_CRDS = Path(__file__).resolve().parents[2] / "deploy" / "crds"
CRDS = [
    "kubedirectorapps.kubedirector.hpe.com",
    "kubedirectorclusters.kubedirector.hpe.com",
    "kubedirectorconfigs.kubedirector.hpe.com",
]


def kubedirector(control_plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``kubedirector`` command against the control plane as its admin."""
    admin = str(control_plane.kubeconfig)
    return subprocess.run(
        [sys.executable, "-m", "kubedirector_core", *args, "--kubeconfig", admin],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def exists(control_plane: ControlPlane, kind: str, where: str) -> bool:
    namespace, _, name = where.rpartition("/")
    scope = ["-n", namespace] if namespace else []
    found = control_plane.kubectl("get", kind, name, *scope, "-o", "name", check=False)
    return found.returncode == 0


@pytest.fixture(autouse=True)
def _nothing_installed_afterwards(control_plane: ControlPlane) -> Iterator[None]:
    """Uninstall after each test, passed or failed.

    The webhook configurations go first: they fail closed, and nothing answers
    them here, so left behind they would refuse every later test's clusters.
    """
    yield
    remove_webhook_configurations(control_plane)
    kubedirector(control_plane, "uninstall")


def cluster_count(control_plane: ControlPlane) -> int:
    """How many KubeDirectorClusters exist in every namespace."""
    listed = control_plane.kubectl("get", "kubedirectorclusters", "-A", "-o", "name").stdout
    return len(listed.split())


def assert_warns_of_every_cluster(
    control_plane: ControlPlane, uninstall: Callable[[], subprocess.CompletedProcess[str]]
) -> subprocess.CompletedProcess[str]:
    """Run ``uninstall``; its warning counts the clusters of every namespace, ours included.

    Earlier tests' namespaces may still be going away while it runs (tests only
    ever delete meanwhile), so the count lies between 1 and one taken just before.
    """
    before = cluster_count(control_plane)
    result = uninstall()
    assert result.returncode == 0, result.stderr
    warned = re.search(r"--delete-crds deletes (\d+) KubeDirectorCluster\(s\)", result.stderr)
    assert warned, result.stderr
    assert 1 <= int(warned[1]) <= before, f"{before} clusters before: {result.stderr}"
    return result


def test_install_then_uninstall_keeps_the_crds_and_the_users_clusters(
    control_plane: ControlPlane, kubedirector_crds: None, namespace: str, tmp_path: Path
) -> None:
    # A user's app and cluster, stored before the operator is installed (once it is, its
    # webhooks judge them, and nothing here runs its image).
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, recorder_cluster(1))

    planned = kubedirector(control_plane, "install", "--dry-run", "--image", "example.test/kd:1")
    assert planned.returncode == 0, planned.stderr
    assert "would apply Deployment kubedirector/kubedirector-operator" in planned.stdout
    assert "would apply ClusterRole kubedirector-operator" in planned.stdout
    assert not exists(control_plane, "deployment", "kubedirector/kubedirector-operator")

    installed = kubedirector(control_plane, "install", "--image", "example.test/kd:1")
    assert installed.returncode == 0, installed.stderr
    for kind, where in INSTALLED:
        assert exists(control_plane, kind, where), f"{kind} {where} was not installed"
    deployment = json.loads(
        control_plane.kubectl(
            "get",
            "deployment",
            "kubedirector-operator",
            "-n",
            "kubedirector",
            "-o",
            "json",
            "--show-managed-fields",
        ).stdout
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "example.test/kd:1"
    managers = {entry["manager"] for entry in deployment["metadata"]["managedFields"]}
    assert "kubedirector-install" in managers

    # The ReplicaSet's pods pass the PodSecurity admission of the namespace, which
    # enforces the restricted profile (KWOK runs them without the image).
    def operator_pods() -> list[str]:
        return control_plane.kubectl(
            "get",
            "pods",
            "-n",
            "kubedirector",
            "-l",
            "app.kubernetes.io/name=kubedirector",
            "-o",
            "name",
        ).stdout.split()

    wait_until("the Deployment's 2 pods created", lambda: len(operator_pods()) == 2, timeout=120)

    # No replica answers the webhooks (KWOK runs no image): they fail closed.
    refused = control_plane.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(recorder_cluster(2)), check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "failed calling webhook" in refused.stderr

    warned = assert_warns_of_every_cluster(
        control_plane,
        lambda: kubedirector(control_plane, "uninstall", "--delete-crds", "--dry-run"),
    )
    assert "would delete CustomResourceDefinition kubedirectorclusters" in warned.stdout
    assert exists(control_plane, "deployment", "kubedirector/kubedirector-operator")

    removed = kubedirector(control_plane, "uninstall")
    assert removed.returncode == 0, removed.stderr
    for kind, where in INSTALLED:
        wait_until(
            f"{kind} {where} deleted",
            lambda kind=kind, where=where: not exists(control_plane, kind, where),
            timeout=120,
        )
    for crd in CRDS:
        assert exists(control_plane, "crd", crd), f"uninstall deleted {crd}"
    assert get_cluster(control_plane, namespace, "rec")["spec"]["app"] == "recorder"
    assert "kept CustomResourceDefinition kubedirectorclusters" in removed.stdout
    # Nothing of the user's was in the operator's namespace: it goes too.
    wait_until(
        "namespace kubedirector deleted",
        lambda: not exists(control_plane, "namespace", "kubedirector"),
        timeout=120,
    )


def test_uninstall_with_delete_crds_says_what_goes_and_removes_it(
    control_plane: ControlPlane, kubedirector_crds: None, namespace: str, tmp_path: Path
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, recorder_cluster(1))
    installed = kubedirector(control_plane, "install")
    assert installed.returncode == 0, installed.stderr
    try:
        # Nothing runs the operator here, so no cluster has its finalizer: they go at once.
        assert_warns_of_every_cluster(
            control_plane,
            lambda: kubedirector(
                control_plane, "uninstall", "--delete-crds", "--yes", "--timeout", "120"
            ),
        )
        for crd in CRDS:
            wait_until(
                f"{crd} deleted",
                lambda crd=crd: not exists(control_plane, "crd", crd),
                timeout=120,
            )
        for kind, where in INSTALLED:
            assert not exists(control_plane, kind, where), f"{kind} {where} was left"
    finally:
        # The CRDs belong to the whole test session: put them back.
        control_plane.kubectl("apply", "--server-side", "-f", str(DEPLOY_CRDS))
        control_plane.wait_established(*CRDS)
        kubedirector(control_plane, "uninstall")
        wait_until(
            "namespace kubedirector deleted",
            lambda: not exists(control_plane, "namespace", "kubedirector"),
            timeout=120,
        )
