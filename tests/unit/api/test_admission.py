"""The admission webhooks: their configuration and how defaults are applied."""

from __future__ import annotations

import kopf

from kubedirector_core.runtime import admission


def test_webhook_configurations_route_to_handler_paths() -> None:
    validating, mutating = admission.webhook_configurations(
        {"url": "https://127.0.0.1:9443/", "caBundle": "Q0E="}
    )
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    assert [w["clientConfig"]["url"] for w in validating["webhooks"]] == [
        "https://127.0.0.1:9443/validate-app",
        "https://127.0.0.1:9443/validate-cluster",
        "https://127.0.0.1:9443/validate-config",
    ]
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    (webhook,) = mutating["webhooks"]
    assert webhook["rules"][0]["resources"] == ["kubedirectorclusters"]
    assert webhook["clientConfig"] == {
        "url": "https://127.0.0.1:9443/default-cluster",
        "caBundle": "Q0E=",
    }


def test_service_client_config() -> None:
    validating, _ = admission.webhook_configurations(
        {"service": {"name": "kd", "namespace": "kd-system", "path": "/hooks"}}
    )
    assert validating["webhooks"][0]["clientConfig"]["service"]["path"] == "/hooks/validate-app"


def test_apply_adds_fills_nested_fields() -> None:
    document = {"spec": {"roles": [{"id": "a", "storage": {"size": "1Gi"}}]}}
    result = admission._apply_adds(
        document,
        [
            {"op": "add", "path": "/spec/serviceType", "value": "NodePort"},
            {"op": "add", "path": "/spec/roles/0/members", "value": 1},
            {"op": "add", "path": "/spec/roles/0/storage/storageClassName", "value": "fast"},
        ],
    )
    assert result == {
        "spec": {
            "serviceType": "NodePort",
            "roles": [
                {"id": "a", "members": 1, "storage": {"size": "1Gi", "storageClassName": "fast"}}
            ],
        }
    }
    assert document == {"spec": {"roles": [{"id": "a", "storage": {"size": "1Gi"}}]}}


class _NoFacts:
    async def find_app(self, namespace: str, name: str, app_catalog: str | None) -> None:
        return None

    async def storage(self) -> None:
        return None

    async def clusters_using_app(self, namespace: str, name: str) -> list[str]:
        return []

    async def defaults(self) -> admission.ClusterDefaults:
        return admission.ClusterDefaults()


def test_register_adds_every_handler() -> None:
    registry = kopf.OperatorRegistry()
    admission.register(registry, _NoFacts())
    ids = {handler.id for handler in registry._webhooks.get_all_handlers()}
    assert ids == {"validate-app", "validate-cluster", "default-cluster", "validate-config"}
