"""deploy/: least-privilege RBAC, a restricted-profile Deployment, flags `run` knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from kubedirector_core.cli.install import customize, load_manifests
from kubedirector_core.cli.run import run

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def operator_container() -> dict[str, Any]:
    deployment = next(d for d in documents("operator.yaml") if d["kind"] == "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_no_rbac_rule_uses_a_wildcard() -> None:
    for role in documents("rbac.yaml"):
        for rule in role.get("rules", []):
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), (role["metadata"]["name"], rule)


def test_every_rbac_rule_is_justified_by_a_comment_right_above_it() -> None:
    lines = (DEPLOY / "rbac.yaml").read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert starts
    previous_resources = None
    for index in starts:
        resources = next(line for line in lines[index:] if "resources:" in line).strip()
        # Two rules on the same resources (e.g. create, then get/update by name) share one.
        if resources != previous_resources:
            assert lines[index - 1].strip().startswith("#"), f"rule without a reason: {resources}"
        previous_resources = resources


def test_secrets_and_exec_are_not_granted_beyond_what_the_runtime_uses() -> None:
    role = next(d for d in documents("rbac.yaml") if d["kind"] == "ClusterRole")
    verbs: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for resource in rule["resources"]:
            verbs.setdefault(resource, set()).update(rule["verbs"])
    # get: connected Secrets are read by name for configmeta (docs/api.md, Connections).
    assert verbs["secrets"] == {"get", "list", "watch", "create", "patch", "delete"}
    assert verbs["pods/exec"] == {"get", "create"}
    assert "update" not in verbs["pods"]
    assert verbs["nodes"] == {"list", "watch"}


def test_the_deployment_meets_the_restricted_pod_security_profile() -> None:
    deployment = next(d for d in documents("operator.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = operator_container()["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"] for m in operator_container()["volumeMounts"]}
    assert mounts == {"/tmp"}


def test_the_deployment_passes_only_flags_that_kubedirector_run_knows() -> None:
    known = {opt for param in run.params if isinstance(param, click.Option) for opt in param.opts}
    args = operator_container()["args"]
    assert args[0] == "run"
    for arg in args[1:]:
        assert arg.split("=", 1)[0] in known, f"kubedirector run has no option {arg}"
    assert "--leader-election-id=kubedirector-operator" in args
    env = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in operator_container()["env"]
        if "valueFrom" in e
    }
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_the_probes_use_the_health_server_and_its_paths() -> None:
    container = operator_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--health-probe-bind-address=:{ports['health']}" in container["args"]
    assert f"--metrics-bind-address=:{ports['metrics']}" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def test_install_moves_everything_to_another_namespace_and_image() -> None:
    moved = customize(load_manifests(DEPLOY), namespace="ops", image="registry.test/kd:2")
    kinds = {m["kind"] for m in moved}
    assert {"CustomResourceDefinition", "ClusterRole", "Deployment"} <= kinds
    for manifest in moved:
        assert manifest["metadata"].get("namespace") in (None, "ops")
        for subject in manifest.get("subjects", []):
            assert subject["namespace"] == "ops"
    namespace = next(m for m in moved if m["kind"] == "Namespace")
    assert namespace["metadata"]["name"] == "ops"
    deployment = next(m for m in moved if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.test/kd:2"
    assert "--system-namespace=ops" in container["args"]


def test_install_names_a_missing_manifest_folder(tmp_path: Path) -> None:
    with pytest.raises(click.ClickException, match="pass --manifests"):
        load_manifests(tmp_path)


def test_install_refuses_a_kind_it_cannot_place(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [extra.yaml]\n")
    (tmp_path / "extra.yaml").write_text("apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n")
    with pytest.raises(click.ClickException, match=r"extra\.yaml: kind 'Widget'"):
        load_manifests(tmp_path)
