"""KubeDirectorConfig: the operator's settings (``kd-global-config``).

Field names and meanings are KubeDirector's (``kubedirectorconfig_types.go``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, StrictBool, StrictStr

from kubedirector_core.api.base import API_VERSION, Resource, WireModel

#: The name KubeDirector gives its one configuration resource.
CONFIG_NAME = "kd-global-config"


class ConfigSpec(WireModel):
    """Operator-wide defaults and switches."""

    default_storage_class_name: StrictStr | None = Field(
        default=None, description="StorageClass of roles' storage that names none."
    )
    default_service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] | None = Field(
        default=None, description="Service type of clusters that name none (default NodePort)."
    )
    native_systemd_support: StrictBool | None = Field(
        default=None, description="True when the nodes' container runtime runs systemd natively."
    )
    required_secret_prefix: StrictStr | None = Field(
        default=None, description="Prefix every Secret mounted by a cluster must have."
    )
    cluster_svc_domain_base: StrictStr | None = Field(
        default=None,
        description="DNS domain of the cluster's Services (default svc.cluster.local).",
    )
    default_naming_scheme: Literal["UID", "CrNameRole"] | None = Field(
        default=None, description="Naming scheme of clusters that name none (default CrNameRole)."
    )
    master_encryption_key: StrictStr | None = Field(
        default=None, description="Key that encrypts roles' secretKeys."
    )
    pod_labels: dict[str, StrictStr] | None = Field(
        default=None, description="Labels added to every member's pod."
    )
    pod_annotations: dict[str, StrictStr] | None = Field(
        default=None, description="Annotations added to every member's pod."
    )
    service_labels: dict[str, StrictStr] | None = Field(
        default=None, description="Labels added to every member's Service."
    )
    service_annotations: dict[str, StrictStr] | None = Field(
        default=None, description="Annotations added to every member's Service."
    )
    backup_cluster_status: StrictBool | None = Field(
        default=None, description="Back up each cluster's status for restores."
    )
    allow_restore_without_connections: StrictBool | None = Field(
        default=None, description="Allow restores while connected objects are missing."
    )
    force_shared_memory_size_support: StrictBool | None = Field(
        default=None, description="Allow or forbid roles' sharedMemory whatever the server version."
    )


class ConfigStatus(WireModel):
    """What the operator made of its configuration."""

    generation_uid: StrictStr | None = Field(
        default=None, alias="generationUID", description="Changes on every status write."
    )
    state: StrictStr | None = Field(default=None, description="State of the configuration.")


class KubeDirectorConfig(Resource):
    """KubeDirector's operator-wide settings."""

    KIND: ClassVar[str] = "KubeDirectorConfig"

    api_version: Literal["kubedirector.hpe.com/v1beta1"] = Field(
        alias="apiVersion", description=f"Always {API_VERSION!r}."
    )
    kind: Literal["KubeDirectorConfig"] = Field(description="Always 'KubeDirectorConfig'.")
    spec: ConfigSpec | None = Field(default=None, description="The settings.")
    status: ConfigStatus | None = Field(default=None, description="What the operator made of them.")
