"""deploy/webhook.yaml: the webhooks the handlers serve, behind a Service to the operator pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubedirector_core.cli.install import customize, load_manifests
from kubedirector_core.runtime.admission import webhook_configurations
from kubedirector_core.runtime.webhook import CONFIGURATION_NAME, SECRET_NAME, SERVICE_PORT

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def by_kind(name: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in documents(name)}


def test_the_configurations_are_what_the_operator_serves_routed_through_the_service() -> None:
    shipped = by_kind("webhook.yaml")
    service = shipped["Service"]["metadata"]
    expected = webhook_configurations(
        {"service": {"namespace": service["namespace"], "name": service["name"], "port": 443}},
        name=CONFIGURATION_NAME,
    )
    for configuration in expected:
        found = shipped[configuration["kind"]]
        assert found["webhooks"] == configuration["webhooks"], configuration["kind"]
        assert found["metadata"]["name"] == CONFIGURATION_NAME
        for webhook in found["webhooks"]:
            assert webhook["failurePolicy"] == "Fail"
            assert "caBundle" not in webhook["clientConfig"], "the operator patches it in"
            assert webhook["rules"][0]["apiGroups"] == ["kubedirector.hpe.com"]


def test_the_service_leads_to_the_operator_pods_webhook_port() -> None:
    service = by_kind("webhook.yaml")["Service"]
    deployment = by_kind("operator.yaml")["Deployment"]
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert all(pod["metadata"]["labels"][k] == v for k, v in service["spec"]["selector"].items())
    (port,) = service["spec"]["ports"]
    assert port["port"] == SERVICE_PORT
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--webhook-listen=:{ports[port['targetPort']]}" in container["args"]
    name = service["metadata"]["name"]
    assert f"--webhook-service=$(POD_NAMESPACE)/{name}" in container["args"]


def test_the_operator_only_gets_and_patches_its_configurations_and_its_secret() -> None:
    rules = [rule for role in documents("rbac.yaml") for rule in role.get("rules", [])]
    webhook_rules = [r for r in rules if r["apiGroups"] == ["admissionregistration.k8s.io"]]
    assert webhook_rules == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
            "resourceNames": [CONFIGURATION_NAME],
            "verbs": ["get", "patch"],
        }
    ]
    role = next(d for d in documents("rbac.yaml") if d["kind"] == "Role")
    named = [r for r in role["rules"] if r["resources"] == ["secrets"] and "resourceNames" in r]
    assert named == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [SECRET_NAME],
            "verbs": ["get", "update"],
        }
    ]


def test_install_elsewhere_moves_the_webhooks_service_reference_too() -> None:
    moved = customize(load_manifests(DEPLOY), namespace="ops", image=None)
    services = [
        webhook["clientConfig"]["service"]
        for manifest in moved
        for webhook in manifest.get("webhooks") or []
    ]
    assert len(services) == 4
    assert {service["namespace"] for service in services} == {"ops"}
    # The webhooks come last: installed after the operator, removed before it.
    assert [m["kind"] for m in moved[-2:]] == [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]
