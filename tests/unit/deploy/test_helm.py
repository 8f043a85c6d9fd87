"""The Helm chart renders what deploy/ holds, lints clean, and its schema refuses bad values.

Uses the pinned ``helm`` built from the Go module proxy
(:func:`kubedirector_core.devcluster.tools.helm_binary`; the first run builds it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.cli.install import customize, load_manifests
from kubedirector_core.devcluster.tools import helm_binary

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
CHART = DEPLOY / "helm" / "kubedirector"
#: Labels only Helm adds; everything else must match deploy/ exactly.
HELM_LABELS = (
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


@pytest.fixture(scope="module")
def helm() -> Path:
    return helm_binary(progress=lambda _: None)


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, check=False, timeout=120
    )


def render(helm: Path, namespace: str = "kubedirector", values: Sequence[str] = ()) -> list[Any]:
    sets = [item for value in values for item in ("--set", value)]
    result = run_helm(
        helm, "template", "kd", str(CHART), "--namespace", namespace, "--include-crds", *sets
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind_and_name(manifests: Sequence[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    found = {}
    for manifest in manifests:
        labels = manifest["metadata"].get("labels") or {}
        for label in HELM_LABELS:
            labels.pop(label, None)
        found[(manifest["kind"], manifest["metadata"]["name"])] = manifest
    return found


def without_namespace_object(manifests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    # Helm installs into a namespace that exists (or --create-namespace); the chart
    # does not own it, so its Pod Security labels are the installer's (README).
    return [m for m in manifests if m["kind"] != "Namespace"]


def test_the_chart_renders_the_same_objects_as_deploy(helm: Path) -> None:
    rendered = by_kind_and_name(render(helm))
    plain = by_kind_and_name(without_namespace_object(load_manifests(DEPLOY)))
    assert sorted(rendered) == sorted(plain)
    for key, manifest in plain.items():
        assert rendered[key] == manifest, f"{key} differs between the chart and deploy/"


def test_the_chart_in_another_namespace_matches_kubedirector_install(helm: Path) -> None:
    rendered = by_kind_and_name(render(helm, namespace="ops"))
    installed = customize(load_manifests(DEPLOY), namespace="ops", image=None)
    assert rendered == by_kind_and_name(without_namespace_object(installed))


def test_a_namespace_selector_adds_the_flag_and_only_namespace_reads(helm: Path) -> None:
    default = by_kind_and_name(render(helm))
    selected = by_kind_and_name(render(helm, values=["namespaceSelector=team=data"]))
    rules = selected[("ClusterRole", "kubedirector-operator")]["rules"]
    added = [
        r for r in rules if r not in default[("ClusterRole", "kubedirector-operator")]["rules"]
    ]
    assert added == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]
    container = selected[("Deployment", "kubedirector-operator")]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert "--namespace-selector=team=data" in container["args"]


def test_helm_lint_passes(helm: Path) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("replicaCount=0", "/replicaCount"),
        ("image.tag=latest", "/image/tag"),
        ("logFormat=xml", "/logFormat"),
        ("metrics.port=80", "/metrics/port"),
        ("leaderElection.enabled=false", "/leaderElection/enabled"),
        ("imagee.tag=1", "imagee"),
    ],
)
def test_the_values_schema_refuses_bad_values(helm: Path, value: str, complaint: str) -> None:
    result = run_helm(helm, "template", "kd", str(CHART), "--set", value)
    assert result.returncode != 0
    assert "schema" in result.stderr
    assert complaint in result.stderr
