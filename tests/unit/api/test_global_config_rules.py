"""KubeDirectorConfig's rules and defaults at admission and in ``kubedirector validate``."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from click.testing import CliRunner

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.cli.validate import validate
from kubedirector_core.problems import Problem
from kubedirector_core.runtime import admission
from kubedirector_core.runtime.globalconfig import settings_of
from kubedirector_core.validation import StorageFacts, validate_cluster

Doc = dict[str, Any]
SECRET = {"name": "mysecret", "mountPath": "/etc/secret"}
PREFIX_MESSAGE = (
    "Secret 'mysecret' does not start with 'kd-', the prefix KubeDirectorConfig requires "
    "(requiredSecretPrefix): use a Secret whose name starts with 'kd-'"
)


@pytest.fixture
def app(app_doc: Doc) -> KubeDirectorApp:
    return KubeDirectorApp.model_validate(app_doc)


def test_a_role_secret_without_the_required_prefix_is_refused(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    cluster_doc["spec"]["roles"][1]["secret"] = dict(SECRET)
    _, problems = validate_cluster(cluster_doc, app, required_secret_prefix="kd-")
    assert problems == [Problem("spec.roles[1].secret.name", PREFIX_MESSAGE)]
    assert validate_cluster(cluster_doc, app)[1] == []
    cluster_doc["spec"]["roles"][1]["secret"]["name"] = "kd-mysecret"
    assert validate_cluster(cluster_doc, app, required_secret_prefix="kd-")[1] == []


def test_the_default_secret_needs_the_prefix_too(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["defaultSecret"] = dict(SECRET)
    _, problems = validate_cluster(cluster_doc, app, required_secret_prefix="kd-")
    assert problems == [Problem("spec.defaultSecret.name", PREFIX_MESSAGE)]


def test_a_secret_admitted_before_the_prefix_does_not_block_a_resize(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    cluster_doc["spec"]["roles"][1]["secret"] = dict(SECRET)
    old = copy.deepcopy(cluster_doc)
    cluster_doc["spec"]["roles"][1]["members"] = 3
    _, problems = validate_cluster(cluster_doc, app, old=old, required_secret_prefix="kd-")
    assert problems == []


class _Facts:
    """Facts as the runtime would give them, with a KubeDirectorConfig in force."""

    def __init__(self, app: KubeDirectorApp, defaults: admission.ClusterDefaults) -> None:
        self.app = app
        self.cluster_defaults = defaults

    async def find_app(
        self, namespace: str, name: str, app_catalog: str | None
    ) -> admission.FoundApp:
        return admission.FoundApp(self.app, "system")

    async def storage(self) -> StorageFacts:
        return StorageFacts(classes=frozenset({"standard", "fast"}), default_class="standard")

    async def clusters_using_app(self, namespace: str, name: str) -> list[str]:
        return []

    async def defaults(self) -> admission.ClusterDefaults:
        return self.cluster_defaults


CONFIGURED = admission.ClusterDefaults(
    service_type="ClusterIP",
    naming_scheme="UID",
    storage_class="fast",
    required_secret_prefix="kd-",
)


def test_the_mutating_webhook_writes_the_configured_defaults(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    handler = admission.handlers(_Facts(app, CONFIGURED))[admission.DEFAULT_CLUSTER]
    patch = kopf.Patch()
    asyncio.run(handler(body=cluster_doc, patch=patch, operation="CREATE", warnings=[]))
    assert patch["spec"]["serviceType"] == "ClusterIP"
    assert patch["spec"]["namingScheme"] == "UID"
    assert patch["spec"]["roles"][1]["storage"]["storageClassName"] == "fast"


def test_the_mutating_webhook_keeps_what_the_cluster_names(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    cluster_doc["spec"]["serviceType"] = "LoadBalancer"
    cluster_doc["spec"]["namingScheme"] = "CrNameRole"
    cluster_doc["spec"]["roles"][1]["storage"]["storageClassName"] = "standard"
    handler = admission.handlers(_Facts(app, CONFIGURED))[admission.DEFAULT_CLUSTER]
    patch = kopf.Patch()
    asyncio.run(handler(body=cluster_doc, patch=patch, operation="CREATE", warnings=[]))
    assert "serviceType" not in patch.get("spec", {})
    assert "namingScheme" not in patch.get("spec", {})
    assert "roles" not in patch.get("spec", {})


def test_the_validating_webhook_refuses_a_secret_without_the_prefix(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    cluster_doc["spec"]["roles"][0]["secret"] = dict(SECRET)
    handler = admission.handlers(_Facts(app, CONFIGURED))[admission.VALIDATE_CLUSTER]
    with pytest.raises(kopf.AdmissionError) as refused:
        asyncio.run(handler(body=cluster_doc, old=None, warnings=[]))
    assert str(refused.value) == f"spec.roles[0].secret.name: {PREFIX_MESSAGE}"


def _config(**spec: Any) -> Doc:
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorConfig",
        "metadata": {"name": "kd-global-config", "namespace": "kubedirector"},
        "spec": spec,
    }


def test_settings_of_a_config_and_of_none() -> None:
    settings = settings_of(_config(defaultServiceType="ClusterIP", podLabels={"a": "b"}))
    assert settings.service_type == "ClusterIP"
    assert settings.pod_labels == {"a": "b"}
    assert settings_of(None).service_type == "NodePort"


def test_an_invalid_config_gives_the_built_in_settings(caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_of(_config(defaultServiceType="Nowhere"))
    assert settings.service_type == "NodePort"
    assert "defaultServiceType" in caplog.text


def test_kubedirector_validate_checks_secrets_against_a_config_file(
    tmp_path: Path, app_doc: Doc, cluster_doc: Doc
) -> None:
    app_file = tmp_path / "app.json"
    app_file.write_text(json.dumps(app_doc))
    cluster_doc["spec"]["roles"][0]["secret"] = dict(SECRET)
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text(yaml.safe_dump(cluster_doc))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(_config(requiredSecretPrefix="kd-")))
    without = CliRunner().invoke(validate, [str(cluster_file), "--app", str(app_file)])
    assert without.exit_code == 0, without.output
    result = CliRunner().invoke(
        validate, [str(cluster_file), "--app", str(app_file), "--config", str(config_file)]
    )
    assert result.exit_code == 1
    assert f"{cluster_file}: spec.roles[0].secret.name: {PREFIX_MESSAGE}" in result.output
    together = CliRunner().invoke(
        validate, [str(config_file), str(cluster_file), "--app", str(app_file)]
    )
    assert together.exit_code == 1
    assert "spec.roles[0].secret.name" in together.output


def test_a_config_naming_a_missing_storage_class_is_refused(app: KubeDirectorApp) -> None:
    handler = admission.handlers(_Facts(app, CONFIGURED))[admission.VALIDATE_CONFIG]
    with pytest.raises(kopf.AdmissionError) as refused:
        asyncio.run(handler(body=_config(defaultStorageClassName="gold"), warnings=[]))
    assert str(refused.value) == (
        "spec.defaultStorageClassName: StorageClass 'gold' does not exist; "
        "existing classes: fast, standard"
    )
    warnings: list[str] = []
    asyncio.run(handler(body=_config(defaultStorageClassName="fast"), warnings=warnings))
    assert warnings == []


def test_a_config_of_another_name_is_accepted_with_a_warning(app: KubeDirectorApp) -> None:
    handler = admission.handlers(_Facts(app, CONFIGURED))[admission.VALIDATE_CONFIG]
    document = _config()
    document["metadata"]["name"] = "my-config"
    warnings: list[str] = []
    asyncio.run(handler(body=document, warnings=warnings))
    assert len(warnings) == 1
    assert "only the KubeDirectorConfig named 'kd-global-config'" in warnings[0]
    assert "'my-config' has no effect" in warnings[0]
