"""KubeDirectorConfig (``kd-global-config``) as the planner applies it: plain data.

The runtime reads the operator's one KubeDirectorConfig and hands it to the
planner as an :class:`OperatorSettings` in the observation; without one
(none exists, or it cannot be read) every field has KubeDirector's built-in
value. Where each field acts, as in the original KubeDirector:

* ``defaultServiceType``, ``defaultNamingScheme``: clusters whose spec names
  none (the mutating webhook writes them into new clusters; the planner falls
  back to them for clusters admitted without the webhook);
* ``defaultStorageClassName``: storage of roles that name no class, before
  the Kubernetes cluster's default StorageClass;
* ``clusterSvcDomainBase``: the DNS domain of the members' names (configmeta's
  hostnames and fqdns, the ``--fqdns`` of notifications);
* ``podLabels``/``podAnnotations``: the members' pods (the StatefulSet's pod
  template), ``serviceLabels``/``serviceAnnotations``: the members' Services;
* ``nativeSystemdSupport``: apps that need systemd get no host cgroup mount;
* ``requiredSecretPrefix``: admission refuses a role secret without it.

What a StatefulSet's pod template or claim templates carry from here is fixed
when the StatefulSet is created (see :class:`TemplateSettings`): changing the
template would restart every member, and claim templates cannot change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from kubedirector_core.api.config import KubeDirectorConfig

#: KubeDirector's default DNS domain of Services.
DEFAULT_DOMAIN_BASE: Final = "svc.cluster.local"
DEFAULT_SERVICE_TYPE: Final = "NodePort"
DEFAULT_NAMING_SCHEME: Final = "CrNameRole"
#: The StatefulSet annotation recording the :class:`TemplateSettings` it was created with.
TEMPLATE_ANNOTATION: Final = "kubedirector.hpe.com/kd-global-config"


def domain_base(value: str | None) -> str:
    """``clusterSvcDomainBase`` without its leading dot, the default when unset or empty.

    KubeDirector's value starts with a dot (``.svc.cluster.local``) and is
    appended to ``<service>.<namespace>``; both spellings are accepted.
    """
    base = (value or "").strip().strip(".")
    return base or DEFAULT_DOMAIN_BASE


@dataclass(frozen=True)
class TemplateSettings:
    """The part of the settings a StatefulSet takes at creation and keeps."""

    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    native_systemd_support: bool = False
    #: ``defaultStorageClassName`` when the StatefulSet was created.
    default_storage_class: str | None = None

    @property
    def is_default(self) -> bool:
        """True when nothing here differs from a StatefulSet made without a config."""
        return self == TemplateSettings()

    def to_annotation(self) -> str:
        """This, as the value of :data:`TEMPLATE_ANNOTATION` (stable JSON)."""
        record: dict[str, Any] = {
            "podLabels": dict(self.pod_labels),
            "podAnnotations": dict(self.pod_annotations),
            "nativeSystemdSupport": self.native_systemd_support,
        }
        if self.default_storage_class is not None:
            record["defaultStorageClassName"] = self.default_storage_class
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_statefulset(cls, manifest: Mapping[str, Any]) -> TemplateSettings:
        """What an existing StatefulSet was created with (nothing when it records none)."""
        annotations = (manifest.get("metadata") or {}).get("annotations") or {}
        raw = annotations.get(TEMPLATE_ANNOTATION)
        if not isinstance(raw, str):
            return cls()
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(record, dict):
            return cls()
        storage_class = record.get("defaultStorageClassName")
        return cls(
            pod_labels=_strings(record.get("podLabels")),
            pod_annotations=_strings(record.get("podAnnotations")),
            native_systemd_support=record.get("nativeSystemdSupport") is True,
            default_storage_class=storage_class if isinstance(storage_class, str) else None,
        )


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): str(item) for key, item in value.items()}


@dataclass(frozen=True)
class OperatorSettings:
    """KubeDirectorConfig's fields the operator honours; built-in values by default."""

    default_service_type: str | None = None
    default_naming_scheme: str | None = None
    default_storage_class: str | None = None
    #: The members' DNS domain base, without a leading dot.
    svc_domain_base: str = DEFAULT_DOMAIN_BASE
    native_systemd_support: bool = False
    required_secret_prefix: str | None = None
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    service_labels: Mapping[str, str] = field(default_factory=dict)
    service_annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: KubeDirectorConfig | None) -> OperatorSettings:
        """The settings of ``config``; the built-in ones for ``None`` or an empty spec."""
        spec = config.spec if config is not None else None
        if spec is None:
            return cls()
        return cls(
            default_service_type=spec.default_service_type,
            default_naming_scheme=spec.default_naming_scheme,
            default_storage_class=spec.default_storage_class_name or None,
            svc_domain_base=domain_base(spec.cluster_svc_domain_base),
            native_systemd_support=bool(spec.native_systemd_support),
            required_secret_prefix=spec.required_secret_prefix or None,
            pod_labels=dict(spec.pod_labels or {}),
            pod_annotations=dict(spec.pod_annotations or {}),
            service_labels=dict(spec.service_labels or {}),
            service_annotations=dict(spec.service_annotations or {}),
        )

    @property
    def service_type(self) -> str:
        """The Service type of clusters that name none."""
        return self.default_service_type or DEFAULT_SERVICE_TYPE

    @property
    def naming_scheme(self) -> str:
        """The naming scheme of clusters that name none."""
        return self.default_naming_scheme or DEFAULT_NAMING_SCHEME

    @property
    def template(self) -> TemplateSettings:
        """What a StatefulSet created now takes from these settings."""
        return TemplateSettings(
            pod_labels=dict(self.pod_labels),
            pod_annotations=dict(self.pod_annotations),
            native_systemd_support=self.native_systemd_support,
            default_storage_class=self.default_storage_class,
        )
