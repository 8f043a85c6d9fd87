"""Serving the admission webhooks on every replica: options, TLS, configurations.

:mod:`kubedirector_core.runtime.admission` holds the handlers and
:mod:`.webhookserver` the HTTPS server; :func:`serve_webhooks` runs both for
``kubedirector run`` on every replica, leader or standby (admission only
reads, so any replica may answer), before and independently of the election.

Two ways to be reached (:class:`WebhookOptions`):

* **URL** (``--webhook-host/--webhook-port``, local runs): listen on that
  host and port, and register ``https://host:port/<handler>`` in the webhook
  configurations, which the operator creates itself (server-side apply).
* **Service** (``--webhook-listen :9443 --webhook-service NS/NAME``, a
  cluster): listen on every interface; the configurations (shipped in
  ``deploy/webhook.yaml``) route through the Service, and the operator only
  patches their ``caBundle``.

TLS, either from files (``--webhook-cert/--webhook-key``, e.g. cert-manager's
Secret mounted; ``--webhook-ca`` becomes the caBundle, or cert-manager's CA
injector fills it) or, in Service mode without files, self-managed: the
Secret ``kubedirector-webhook-tls`` (:mod:`.webhooktls`) in the Service's
namespace. Every :attr:`WebhookOptions.resync` seconds each replica re-reads
its certificate (files or Secret), renews it if due, reloads its server if it
changed and puts the bundle into the configurations if they differ. *Any*
replica writes the Secret and the caBundle: the writes are idempotent,
creates and updates are guarded (409 means another replica won: re-read), and
the bundle only grows before a new CA signs (see :mod:`.webhooktls`), so a
replica with an older view never removes a CA that is in use.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from kubedirector_core.api import GROUP, VERSION, KubeDirectorApp
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.runtime.admission import (
    AdmissionFacts,
    ClusterDefaults,
    FoundApp,
    handlers,
    webhook_configurations,
)
from kubedirector_core.runtime.globalconfig import read_settings
from kubedirector_core.runtime.kubeapi import ApiError, KubeApi
from kubedirector_core.runtime.webhookserver import AdmissionServer, ssl_context
from kubedirector_core.runtime.webhooktls import Material, rotate, service_names
from kubedirector_core.validation import PluginRules, StorageFacts

log = logging.getLogger(__name__)

FIELD_MANAGER = "kubedirector"
_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
#: The name of both webhook configurations (deploy/webhook.yaml).
CONFIGURATION_NAME = "kubedirector.hpe.com"
#: The Secret of the self-managed TLS material, in the Service's namespace.
SECRET_NAME = "kubedirector-webhook-tls"  # noqa: S105 (a name, not a password)
#: The Service's port (deploy/webhook.yaml maps it to the pods' webhook port).
SERVICE_PORT = 443


@dataclass(frozen=True)
class WebhookOptions:
    """Where the webhooks listen, how the API server reaches them, and their TLS."""

    #: (host, port) to listen on.
    listen: tuple[str, int]
    #: URL mode: the host the API server calls at the listen port.
    url_host: str | None = None
    #: Service mode: (namespace, name) of the Service in front of every replica.
    service: tuple[str, str] | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    #: The CA that signed ``certfile``: it becomes the configurations' caBundle.
    ca_file: Path | None = None
    secret_name: str = SECRET_NAME
    configuration_name: str = CONFIGURATION_NAME
    #: Seconds between re-reads of the certificate and the configurations.
    resync: float = 300.0

    def __post_init__(self) -> None:
        if (self.url_host is None) == (self.service is None):
            raise ValueError("exactly one of url_host (URL mode) and service must be set")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("a webhook certificate needs its key, and the other way round")
        if self.url_host is not None and self.certfile is None:
            raise ValueError("URL mode needs a certificate and key from files")

    @property
    def url(self) -> str:
        """URL mode: the base URL the API server calls (handler ids are appended as paths)."""
        return f"https://{self.url_host}:{self.listen[1]}"

    @property
    def self_managed(self) -> bool:
        """True when the operator makes and rotates the certificate (Secret)."""
        return self.certfile is None

    def client_config(self, bundle: bytes | None) -> dict[str, Any]:
        """The webhooks' clientConfig without the handler path."""
        config: dict[str, Any]
        if self.service is not None:
            namespace, name = self.service
            config = {"service": {"namespace": namespace, "name": name, "port": SERVICE_PORT}}
        else:
            config = {"url": self.url}
        if bundle:
            config["caBundle"] = base64.b64encode(bundle).decode()
        return config


class ApiAdmissionFacts:
    """:class:`AdmissionFacts` looked up through the API server, off the event loop.

    ``settings`` gives the operator's KubeDirectorConfig from its caches, or
    ``None`` when this process does not watch it (a standby replica, before
    the first read): :meth:`defaults` then GETs ``kd-global-config``.
    """

    def __init__(
        self,
        api: client.ApiClient,
        system_namespace: str,
        *,
        settings: Callable[[], OperatorSettings | None] | None = None,
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.storage_api = client.StorageV1Api(api)
        self.system_namespace = system_namespace
        self.kube = KubeApi(api)
        self.cached_settings = settings

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
        """The defaults and rules of ``kd-global-config``; the built-in ones without it."""
        settings = self.cached_settings() if self.cached_settings is not None else None
        if settings is None:
            settings = await asyncio.to_thread(read_settings, self.kube, self.system_namespace)
        return ClusterDefaults(
            service_type=settings.service_type,
            naming_scheme=settings.naming_scheme,
            storage_class=settings.default_storage_class,
            required_secret_prefix=settings.required_secret_prefix,
        )


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


_ADMISSION = "/apis/admissionregistration.k8s.io/v1"
_JSON_PATCH = "application/json-patch+json"


class SecretKeeper:
    """Keeps the self-managed TLS material in a Secret, safe with several replicas.

    Needs ``get`` and ``update`` on that one Secret and ``create`` on Secrets
    in its namespace (RBAC cannot limit ``create`` to a name).
    """

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        dns_names: list[str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.dns_names = dns_names
        self.clock = clock

    @property
    def path(self) -> str:
        """The Secret's REST path."""
        return f"/api/v1/namespaces/{self.namespace}/secrets/{self.name}"

    def sync(self, attempts: int = 5) -> Material:
        """Read the Secret, create or renew what is due, write it back; the material in force.

        A 409 (another replica created or updated it first) re-reads and
        decides again. Blocking: call it from a thread.
        """
        for _ in range(attempts):
            try:
                secret: dict[str, Any] | None = self.api.request("GET", self.path)
            except ApiError as error:
                if error.status != 404:
                    raise
                secret = None
            material = Material.from_data(secret.get("data") or {}) if secret else None
            wanted, reasons = rotate(material, self.dns_names, self.clock())
            if material is not None and not reasons:
                return material
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "labels": {
                        "app.kubernetes.io/name": "kubedirector",
                        "app.kubernetes.io/component": "webhook",
                    },
                },
                "type": "Opaque",
                "data": wanted.to_data(),
            }
            try:
                if secret is not None:
                    # An update guarded by the version read: 409 if another replica wrote.
                    body["metadata"]["resourceVersion"] = secret["metadata"]["resourceVersion"]
                    self.api.request("PUT", self.path, body=body, retry_conflicts=False)
                else:
                    collection = self.path.rsplit("/", 1)[0]
                    self.api.request("POST", collection, body=body, retry_conflicts=False)
            except ApiError as error:
                if error.status == 409:
                    log.info(
                        "another replica wrote Secret %s/%s first; re-reading",
                        self.namespace,
                        self.name,
                    )
                    continue
                raise
            log.info(
                "webhook TLS in Secret %s/%s: %s", self.namespace, self.name, "; ".join(reasons)
            )
            return wanted
        raise RuntimeError(
            f"Secret {self.namespace}/{self.name} changed under every one of {attempts} attempts"
        )


def patch_ca_bundle(api: KubeApi, name: str, bundle: bytes) -> list[str]:
    """Put ``bundle`` into every webhook of both configurations ``name``; the kinds changed.

    Needs only ``get`` and ``patch`` on them. A missing configuration is
    logged (deploy/webhook.yaml ships them) and skipped.
    """
    encoded = base64.b64encode(bundle).decode()
    changed = []
    for kind, plural in (
        ("ValidatingWebhookConfiguration", "validatingwebhookconfigurations"),
        ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations"),
    ):
        path = f"{_ADMISSION}/{plural}/{name}"
        try:
            current = api.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                log.error("%s %s does not exist: apply deploy/webhook.yaml", kind, name)
                continue
            raise
        operations = [
            {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": encoded}
            for index, webhook in enumerate(current.get("webhooks") or [])
            if (webhook.get("clientConfig") or {}).get("caBundle") != encoded
        ]
        if operations:
            # Guarded by the version read, so a concurrent change of the list is not hit.
            version = current["metadata"]["resourceVersion"]
            guard = {"op": "test", "path": "/metadata/resourceVersion", "value": version}
            api.request("PATCH", path, body=[guard, *operations], content_type=_JSON_PATCH)
            changed.append(kind)
    return changed


class WebhookService:
    """The admission server of one replica and the upkeep of its certificate."""

    def __init__(
        self,
        options: WebhookOptions,
        api: KubeApi,
        facts: AdmissionFacts,
        plugin_rules: PluginRules | None = None,
    ) -> None:
        self.options = options
        self.api = api
        self.handlers = handlers(facts, plugin_rules=plugin_rules)
        self.server: AdmissionServer | None = None
        self._serving: bytes | None = None
        self._keeper: SecretKeeper | None = None
        if options.self_managed:
            assert options.service is not None
            namespace, name = options.service
            self._keeper = SecretKeeper(
                api, namespace, options.secret_name, service_names(namespace, name)
            )

    def _material(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate, key, bundle or None) as they are now. Blocking."""
        if self._keeper is not None:
            material = self._keeper.sync()
            return material.serving.cert, material.serving.key, material.bundle
        assert self.options.certfile is not None
        assert self.options.keyfile is not None
        bundle = self.options.ca_file.read_bytes() if self.options.ca_file else None
        return self.options.certfile.read_bytes(), self.options.keyfile.read_bytes(), bundle

    def _publish(self, bundle: bytes | None) -> None:
        """Register the configurations (URL mode) or patch their caBundle. Blocking."""
        if self.options.url_host is not None:
            configurations = webhook_configurations(
                self.options.client_config(bundle), name=self.options.configuration_name
            )
            apply_configurations(self.api.api_client, configurations)
        elif bundle is not None:
            for kind in patch_ca_bundle(self.api, self.options.configuration_name, bundle):
                log.info(
                    "put the webhook CA bundle into %s %s", kind, self.options.configuration_name
                )

    def refresh(self) -> None:
        """Read (renew) the certificate, start or reload the server, publish the bundle.

        Blocking: call it from a thread.
        """
        cert, key, bundle = self._material()
        if self.server is None:
            self.server = AdmissionServer(
                self.options.listen, self.handlers, ssl_context(cert, key)
            )
            self.server.start()
        elif cert != self._serving:
            self.server.reload(ssl_context(cert, key))
        self._serving = cert
        self._publish(bundle)

    async def run(self) -> None:
        """Refresh now and every :attr:`WebhookOptions.resync` seconds, until cancelled.

        Failures are logged and retried (sooner while nothing is served yet).
        """
        while True:
            try:
                await asyncio.to_thread(self.refresh)
                delay = self.options.resync
            except Exception:
                log.exception("keeping the admission webhook's certificate failed; retrying")
                delay = 5.0 if self.server is None else min(60.0, self.options.resync)
            await asyncio.sleep(delay)

    def stop(self) -> None:
        """Stop the server (the Secret and configurations stay for the other replicas)."""
        if self.server is not None:
            self.server.stop()
