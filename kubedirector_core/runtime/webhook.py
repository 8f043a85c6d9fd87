"""Serving the admission webhooks: TLS, the facts they look up, their configurations.

:mod:`kubedirector_core.runtime.admission` holds the handlers; this module runs
them. :func:`enable_webhooks` registers the handlers on the operator's kopf
registry, tells kopf to serve them with the given certificate, and returns the
Validating/MutatingWebhookConfigurations that route the API server to them
(applied by :func:`apply_configurations` once the operator starts).

TLS: the operator serves a certificate the API server trusts through the
configurations' ``caBundle``. On the local control plane both come from
``ControlPlane.serving_certificate`` and its CA; in a real cluster, from
cert-manager or any CA, mounted as files (see deploy/).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client

from kubedirector_core.api import GROUP, VERSION, KubeDirectorApp
from kubedirector_core.runtime.admission import (
    AdmissionFacts,
    ClusterDefaults,
    FoundApp,
    register,
    webhook_configurations,
)
from kubedirector_core.validation import PluginRules, StorageFacts

FIELD_MANAGER = "kubedirector"
_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class WebhookOptions:
    """Where and with what certificate the webhooks are served."""

    port: int
    certfile: Path
    keyfile: Path
    #: The CA that signed ``certfile``: it becomes the configurations' caBundle.
    ca_file: Path
    #: Address to listen on, and the host name the API server calls.
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """The base URL the API server calls (handler ids are appended as paths)."""
        return f"https://{self.host}:{self.port}"


class ApiAdmissionFacts:
    """:class:`AdmissionFacts` looked up through the API server, off the event loop."""

    def __init__(self, api: client.ApiClient, system_namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.storage_api = client.StorageV1Api(api)
        self.system_namespace = system_namespace

    def _get_app(self, namespace: str, name: str) -> KubeDirectorApp | None:
        try:
            raw: dict[str, Any] = self.custom.get_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, namespace, "kubedirectorapps", name
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return KubeDirectorApp.from_wire(raw)

    async def find_app(self, namespace: str, name: str, app_catalog: str | None) -> FoundApp | None:
        """The app in the cluster's namespace ("local"), then in the system namespace."""
        order = [("local", namespace), ("system", self.system_namespace)]
        if app_catalog in ("local", "system"):
            order = [entry for entry in order if entry[0] == app_catalog]
        for catalog, where in order:
            app = await asyncio.to_thread(self._get_app, where, name)
            if app is not None:
                return FoundApp(app, catalog)
        return None

    async def storage(self) -> StorageFacts | None:
        """The StorageClasses that exist and the default one."""

        def listing() -> StorageFacts:
            raw: dict[str, Any] = self.storage_api.api_client.sanitize_for_serialization(
                self.storage_api.list_storage_class()
            )
            names: set[str] = set()
            default: str | None = None
            for item in raw.get("items", []):
                meta = item.get("metadata", {})
                names.add(meta["name"])
                if meta.get("annotations", {}).get(_DEFAULT_CLASS) == "true":
                    default = meta["name"]
            return StorageFacts(classes=frozenset(names), default_class=default)

        try:
            return await asyncio.to_thread(listing)
        except client.ApiException:
            return None

    async def clusters_using_app(self, namespace: str, name: str) -> list[str]:
        """Clusters in ``namespace`` whose ``spec.app`` is ``name``."""

        def listing() -> list[str]:
            raw: dict[str, Any] = self.custom.list_namespaced_custom_object(  # type: ignore[assignment]
                GROUP, VERSION, namespace, "kubedirectorclusters"
            )
            return sorted(
                item["metadata"]["name"]
                for item in raw.get("items", [])
                if item.get("spec", {}).get("app") == name
            )

        return await asyncio.to_thread(listing)

    async def defaults(self) -> ClusterDefaults:
        """KubeDirector's built-in defaults (KubeDirectorConfig overrides come later)."""
        return ClusterDefaults()


def enable_webhooks(
    settings: kopf.OperatorSettings,
    registry: kopf.OperatorRegistry,
    options: WebhookOptions,
    facts: AdmissionFacts,
    plugin_rules: PluginRules | None = None,
) -> list[dict[str, Any]]:
    """Register the handlers, serve them over TLS; return the webhook configurations."""
    register(registry, facts, plugin_rules=plugin_rules)
    settings.admission.server = kopf.WebhookServer(
        addr=options.host,
        port=options.port,
        host=options.host,
        certfile=str(options.certfile),
        pkeyfile=str(options.keyfile),
    )
    bundle = base64.b64encode(options.ca_file.read_bytes()).decode()
    return webhook_configurations({"url": options.url, "caBundle": bundle})


def apply_configurations(api: client.ApiClient, configurations: list[dict[str, Any]]) -> None:
    """Create or update the webhook configurations (server-side apply)."""
    admission = client.AdmissionregistrationV1Api(api)
    for configuration in configurations:
        name = configuration["metadata"]["name"]
        patch = (
            admission.patch_validating_webhook_configuration
            if configuration["kind"] == "ValidatingWebhookConfiguration"
            else admission.patch_mutating_webhook_configuration
        )
        patch(
            name,
            configuration,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
