"""Admission webhooks for KubeDirector resources.

:func:`handlers` returns the validating and mutating handlers (served on every
replica by :mod:`kubedirector_core.runtime.webhookserver`; :func:`register`
can hand them to a kopf registry instead); they call
:mod:`kubedirector_core.validation` with facts looked up through an
:class:`AdmissionFacts` object, so the webhook rejects exactly what
``kubedirector validate`` reports. :func:`webhook_configurations` builds the
Validating/MutatingWebhookConfiguration objects that route the API server to
them (one webhook per handler, path ``/<handler id>``).

The CRDs' schemas and CEL rules hold with the operator down; these handlers
add what needs other objects (the app, StorageClasses, clusters using an app).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import kopf

from kubedirector_core.api import GROUP, VERSION, KubeDirectorApp
from kubedirector_core.api.config import CONFIG_NAME, KubeDirectorConfig
from kubedirector_core.problems import Problem, Severity
from kubedirector_core.validation import (
    PluginRules,
    StorageFacts,
    cluster_defaults,
    validate_app,
    validate_app_delete,
    validate_cluster,
    validate_config,
)

#: Handler ids; they are also the webhook paths.
VALIDATE_APP = "validate-app"
VALIDATE_CLUSTER = "validate-cluster"
DEFAULT_CLUSTER = "default-cluster"
VALIDATE_CONFIG = "validate-config"

#: The operations each handler is called for.
OPERATIONS: dict[str, tuple[str, ...]] = {
    VALIDATE_APP: ("CREATE", "UPDATE", "DELETE"),
    VALIDATE_CLUSTER: ("CREATE", "UPDATE"),
    DEFAULT_CLUSTER: ("CREATE", "UPDATE"),
    VALIDATE_CONFIG: ("CREATE", "UPDATE"),
}

_PLURALS = {
    VALIDATE_APP: "kubedirectorapps",
    VALIDATE_CLUSTER: "kubedirectorclusters",
    DEFAULT_CLUSTER: "kubedirectorclusters",
    VALIDATE_CONFIG: "kubedirectorconfigs",
}


@dataclass(frozen=True)
class FoundApp:
    """An app looked up for a cluster, and the catalog it was found in."""

    app: KubeDirectorApp
    #: "local" (the cluster's namespace) or "system" (KubeDirector's namespace).
    catalog: str


@dataclass(frozen=True)
class ClusterDefaults:
    """Operator-wide defaults and rules (from KubeDirectorConfig) for clusters."""

    service_type: str = "NodePort"
    naming_scheme: str = "CrNameRole"
    #: defaultStorageClassName: before the Kubernetes default StorageClass.
    storage_class: str | None = None
    #: requiredSecretPrefix: Secrets named in a cluster must start with it.
    required_secret_prefix: str | None = None

    def storage(self, facts: StorageFacts | None) -> StorageFacts | None:
        """``facts`` with the configured default StorageClass in place of the Kubernetes one."""
        return None if facts is None else facts.with_configured_default(self.storage_class)


class AdmissionFacts(Protocol):
    """What the webhooks need to know about the cluster, looked up by the runtime."""

    async def find_app(self, namespace: str, name: str, app_catalog: str | None) -> FoundApp | None:
        """The app a cluster names: in its namespace, then KubeDirector's (or where told)."""
        ...

    async def storage(self) -> StorageFacts | None:
        """The StorageClasses, or None when they cannot be listed (the rules are skipped)."""
        ...

    async def clusters_using_app(self, namespace: str, name: str) -> list[str]:
        """Names of the clusters that use the app ``name`` of ``namespace``."""
        ...

    async def defaults(self) -> ClusterDefaults:
        """The defaults of KubeDirectorConfig, or the built-in ones."""
        ...


def _reject(problems: Sequence[Problem], warnings: list[str]) -> None:
    """Add warnings to the response; raise an AdmissionError listing every error."""
    warnings.extend(str(problem) for problem in problems if not problem.is_error)
    errors = [str(problem) for problem in problems if problem.is_error]
    if errors:
        raise kopf.AdmissionError("\n".join(errors), code=422)


def _apply_adds(document: Mapping[str, Any], patch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply JSON-patch ``add`` operations (as :func:`cluster_defaults` makes) to a copy."""
    result = copy.deepcopy(dict(document))
    for operation in patch:
        *parents, last = operation["path"].lstrip("/").split("/")
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = operation["value"]
    return result


#: One admission handler, called with kopf's keyword arguments: ``body``, ``old``,
#: ``operation``, ``warnings`` (a list to extend), ``patch`` (a :class:`kopf.Patch`).
#: It raises :class:`kopf.AdmissionError` to deny.
Handler = Callable[..., Awaitable[None]]


def register(
    registry: kopf.OperatorRegistry,
    facts: AdmissionFacts,
    *,
    plugin_rules: PluginRules | None = None,
) -> None:
    """Register :func:`handlers` on a kopf registry (kopf's own webhook server)."""
    found = handlers(facts, plugin_rules=plugin_rules)
    for handler_id, handler in found.items():
        on = kopf.on.mutate if handler_id == DEFAULT_CLUSTER else kopf.on.validate
        on(
            GROUP,
            VERSION,
            _PLURALS[handler_id],
            id=handler_id,
            operations=list(OPERATIONS[handler_id]),  # type: ignore[arg-type]
            registry=registry,
        )(handler)


def handlers(
    facts: AdmissionFacts, *, plugin_rules: PluginRules | None = None
) -> dict[str, Handler]:
    """The validating and mutating handlers of KubeDirector resources, by handler id.

    :mod:`kubedirector_core.runtime.webhookserver` serves them on every
    replica; :func:`register` hands them to kopf instead.
    """

    async def app_of(cluster: Mapping[str, Any]) -> FoundApp | None:
        """The app a cluster document names, looked up where its appCatalog says."""
        spec = cluster.get("spec") or {}
        return await facts.find_app(
            cluster.get("metadata", {}).get("namespace", ""),
            str(spec.get("app", "")),
            spec.get("appCatalog"),
        )

    async def check_cluster(
        body: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        warnings: list[str],
        **_: Any,
    ) -> None:
        found = await app_of(body)
        defaults = await facts.defaults()
        _cluster, problems = validate_cluster(
            dict(body),
            found.app if found else None,
            old=dict(old) if old else None,
            storage=defaults.storage(await facts.storage()),
            plugin_rules=plugin_rules,
            required_secret_prefix=defaults.required_secret_prefix,
        )
        _reject(problems, warnings)

    async def default_cluster(
        body: Mapping[str, Any], patch: kopf.Patch, operation: str, **_: Any
    ) -> None:
        found = await app_of(body)
        cluster, problems = validate_cluster(dict(body), found.app if found else None)
        if cluster is None or found is None or any(p.is_error for p in problems):
            return  # the validating webhook reports why
        defaults = await facts.defaults()
        operations = cluster_defaults(
            cluster,
            found.app,
            app_catalog=found.catalog if operation == "CREATE" else None,
            service_type=defaults.service_type,
            naming_scheme=defaults.naming_scheme,
            storage=defaults.storage(await facts.storage()),
        )
        if operations:
            defaulted = _apply_adds(body, operations)
            for key, value in defaulted["spec"].items():
                if (body.get("spec") or {}).get(key) != value:
                    patch.spec[key] = value

    async def check_app(
        body: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        operation: str,
        warnings: list[str],
        **_: Any,
    ) -> None:
        metadata = body.get("metadata", {})
        users = await facts.clusters_using_app(
            metadata.get("namespace", ""), metadata.get("name", "")
        )
        if operation == "DELETE":
            _reject(validate_app_delete(metadata.get("name", ""), users), warnings)
            return
        _app, problems = validate_app(
            dict(body),
            old=dict(old) if old else None,
            in_use_by=users,
            plugin_rules=plugin_rules,
        )
        _reject(problems, warnings)

    async def check_config(body: Mapping[str, Any], warnings: list[str], **_: Any) -> None:
        config, problems = validate_config(dict(body))
        if config is not None and not any(p.is_error for p in problems):
            problems += config_rules(config, await facts.storage())
        _reject(problems, warnings)

    return {
        VALIDATE_APP: check_app,
        VALIDATE_CLUSTER: check_cluster,
        DEFAULT_CLUSTER: default_cluster,
        VALIDATE_CONFIG: check_config,
    }


def config_rules(config: KubeDirectorConfig, storage: StorageFacts | None) -> list[Problem]:
    """What a KubeDirectorConfig needs beyond its schema, as KubeDirector checks it.

    Its ``defaultStorageClassName`` must exist (skipped when the classes are
    unknown); a config not named ``kd-global-config`` is accepted with a
    warning, since the operator reads no other.
    """
    problems: list[Problem] = []
    if config.name != CONFIG_NAME:
        problems.append(
            Problem(
                "metadata.name",
                f"the operator reads only the KubeDirectorConfig named {CONFIG_NAME!r} in its "
                f"system namespace: {config.name!r} has no effect",
                severity=Severity.WARNING,
            )
        )
    wanted = config.spec.default_storage_class_name if config.spec is not None else None
    if wanted and storage is not None and wanted not in storage.classes:
        known = ", ".join(sorted(storage.classes)) or "(none)"
        problems.append(
            Problem(
                "spec.defaultStorageClassName",
                f"StorageClass {wanted!r} does not exist; existing classes: {known}",
            )
        )
    return problems


def webhook_configurations(
    client_config: Mapping[str, Any], *, name: str = "kubedirector.hpe.com"
) -> list[dict[str, Any]]:
    """The Validating and Mutating WebhookConfigurations that route to :func:`register`'s handlers.

    ``client_config`` is the webhooks' ``clientConfig`` without the handler
    path: ``{"url": "https://127.0.0.1:9443", "caBundle": ...}`` or
    ``{"service": {...}, "caBundle": ...}``; each webhook appends
    ``/<handler id>`` to it, as kopf's webhook server expects.
    """

    def webhook(handler_id: str) -> dict[str, Any]:
        config = copy.deepcopy(dict(client_config))
        if "url" in config:
            config["url"] = f"{config['url'].rstrip('/')}/{handler_id}"
        if "service" in config:
            config["service"]["path"] = f"{config['service'].get('path', '')}/{handler_id}"
        return {
            "name": f"{handler_id}.{name}",
            "clientConfig": config,
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "apiVersions": [VERSION],
                    "resources": [_PLURALS[handler_id]],
                    "operations": list(OPERATIONS[handler_id]),
                    "scope": "Namespaced",
                }
            ],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "timeoutSeconds": 10,
            "admissionReviewVersions": ["v1"],
        }

    def configuration(kind: str, handler_ids: Sequence[str]) -> dict[str, Any]:
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "webhooks": [webhook(handler_id) for handler_id in handler_ids],
        }

    return [
        configuration(
            "ValidatingWebhookConfiguration", [VALIDATE_APP, VALIDATE_CLUSTER, VALIDATE_CONFIG]
        ),
        configuration("MutatingWebhookConfiguration", [DEFAULT_CLUSTER]),
    ]
