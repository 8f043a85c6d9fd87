"""The generated CRDs on the real API server, with the operator not running.

What the schemas and CEL rules express must hold with no webhook: these tests
apply files with kubectl and read the API server's own answers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

pytestmark = pytest.mark.controlplane

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "deploy" / "crds"
CORPUS = ROOT.parent / "shared" / "compat" / "kubedirector"
CRD_NAMES = [
    "kubedirectorapps.kubedirector.hpe.com",
    "kubedirectorclusters.kubedirector.hpe.com",
    "kubedirectorconfigs.kubedirector.hpe.com",
]


class Kubectl(Protocol):
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...

    def wait_established(self, *crds: str, timeout: float = 120) -> None: ...


@pytest.fixture(scope="module")
def crds(control_plane: Kubectl) -> Kubectl:
    """The CRDs of deploy/crds, applied and established."""
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    control_plane.wait_established(*CRD_NAMES)
    return control_plane


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the KubeDirector compatibility corpus is not at {CORPUS}")
    return CORPUS


def _apply(plane: Kubectl, namespace: str, document: dict[str, Any], check: bool = True) -> Any:
    return plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(document), check=check
    )


def _get(plane: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result = plane.kubectl("get", kind, name, "-n", namespace, "-o", "json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _spark(corpus: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    app = json.loads((corpus / "apps" / "cr-app-spark245.json").read_text())
    (cluster,) = [
        d
        for d in yaml.safe_load_all((corpus / "clusters" / "cr-cluster-spark245.yaml").read_text())
        if d
    ]
    return app, cluster


def test_crds_install_with_categories(crds: Kubectl) -> None:
    result = crds.kubectl("api-resources", "--api-group=kubedirector.hpe.com", "-o", "wide")
    lines = result.stdout.splitlines()
    assert any("kdcluster" in line and "kubedirector" in line for line in lines)
    assert any("kdapp" in line for line in lines)
    assert any("kdconfig" in line for line in lines)


def test_compat_app_and_cluster_apply_unchanged(
    crds: Kubectl, namespace: str, corpus: Path
) -> None:
    app, cluster = _spark(corpus)
    _apply(crds, namespace, app)
    _apply(crds, namespace, cluster)
    assert _get(crds, namespace, "kdapp", "spark245")["spec"] == app["spec"]
    assert _get(crds, namespace, "kdcluster", "spark245-instance")["spec"] == cluster["spec"]


def test_every_compat_file_applies(crds: Kubectl, namespace: str, corpus: Path) -> None:
    for path in sorted((corpus / "apps").iterdir()) + sorted((corpus / "clusters").iterdir()):
        crds.kubectl("apply", "-n", namespace, "-f", str(path))


def _rejected(plane: Kubectl, namespace: str, document: dict[str, Any]) -> str:
    result = _apply(plane, namespace, document, check=False)
    assert result.returncode != 0, "the API server accepted an invalid resource"
    return result.stderr


def test_missing_memory_limit_is_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    del cluster["spec"]["roles"][1]["resources"]["limits"]["memory"]
    stderr = _rejected(crds, namespace, cluster)
    assert "spec.roles[1].resources.limits" in stderr
    assert "a memory limit is required: set resources.limits.memory, e.g. '4Gi'" in stderr


def test_changing_app_is_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    _apply(crds, namespace, cluster)
    cluster["spec"]["app"] = "cdh5142cm"
    stderr = _rejected(crds, namespace, cluster)
    assert "spec.app" in stderr
    assert "app is immutable: delete and re-create the cluster to change its app" in stderr


def test_changing_app_catalog_is_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    cluster["spec"]["appCatalog"] = "local"
    _apply(crds, namespace, cluster)
    cluster["spec"]["appCatalog"] = "system"
    assert "appCatalog is immutable" in _rejected(crds, namespace, cluster)


def test_member_caps_are_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    cluster["spec"]["roles"][2]["members"] = 10_000
    assert "spec.roles[2].members" in _rejected(crds, namespace, cluster)
    for role in cluster["spec"]["roles"]:
        role["members"] = 300
    assert "a cluster may have at most 1000 members in all" in _rejected(crds, namespace, cluster)


def test_bad_cardinality_syntax_is_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    app, _cluster = _spark(corpus)
    app["spec"]["roles"][0]["cardinality"] = "one"
    assert "spec.roles[0].cardinality" in _rejected(crds, namespace, app)


def test_unknown_selected_role_is_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    app, _cluster = _spark(corpus)
    app["spec"]["config"]["selectedRoles"].append("ghost")
    stderr = _rejected(crds, namespace, app)
    assert "every entry of config.selectedRoles must be the id of a role in spec.roles" in stderr


def test_bad_quantity_is_rejected(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    cluster["spec"]["roles"][0]["resources"]["limits"]["cpu"] = "2 cores"
    assert "spec.roles[0].resources.limits.cpu" in _rejected(crds, namespace, cluster)


def test_status_keeps_the_operators_progress(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    _apply(crds, namespace, cluster)
    status = {
        "state": "configuring",
        "observedGeneration": 1,
        "membersReady": "1/4",
        "notifications": [{"event": "addnodes", "pendingMembers": ["w-0"]}],
        "roles": [
            {
                "id": "spark-worker",
                "members": [
                    {
                        "pod": "w-0",
                        "configured": True,
                        "containerID": "containerd://1",
                        "setupResult": {"exitStatus": 0, "outputTail": "ok"},
                    }
                ],
            }
        ],
    }
    crds.kubectl(
        "patch",
        "kdcluster",
        "spark245-instance",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    assert _get(crds, namespace, "kdcluster", "spark245-instance")["status"] == status


def test_get_shows_printer_columns(crds: Kubectl, namespace: str, corpus: Path) -> None:
    _app, cluster = _spark(corpus)
    _apply(crds, namespace, cluster)
    header = crds.kubectl("get", "kdcluster", "-n", namespace).stdout.splitlines()[0]
    assert header.split() == ["NAME", "APP", "STATE", "READY", "AGE"]
    assert "kubedirectorcluster" in crds.kubectl("get", "kubedirector", "-n", namespace).stdout


def test_explain_shows_descriptions(crds: Kubectl) -> None:
    text = crds.kubectl("explain", "kubedirectorcluster.spec.roles").stdout
    assert "The roles of the cluster, by app role id." in text
    assert "How many members; must fit the app role's cardinality." in text
