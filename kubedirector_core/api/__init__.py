"""The resources users write: KubeDirectorApp, KubeDirectorCluster, KubeDirectorConfig.

pydantic models with snake_case attributes and KubeDirector's exact camelCase
wire names as aliases. ``Model.from_wire(doc).to_wire() == doc`` for every
document KubeDirector accepts. The CRDs in ``deploy/crds/`` are generated from
these models by ``python -m kubedirector_core.api.crdgen``.
"""

from __future__ import annotations

from kubedirector_core.api.app import (
    AppConfig,
    AppRole,
    AppService,
    AppSpec,
    KubeDirectorApp,
    Label,
    MinStorage,
    RoleServices,
    ServiceEndpoint,
    SetupPackage,
)
from kubedirector_core.api.base import API_VERSION, GROUP, VERSION, ObjectMeta
from kubedirector_core.api.cluster import (
    MAX_MEMBERS,
    AutoscaleDecision,
    ClusterRole,
    ClusterSpec,
    ClusterStatus,
    ClusterStorage,
    Condition,
    DoneAction,
    KubeDirectorCluster,
    MemberReadiness,
    MemberStateDetail,
    MemberStatus,
    MetricSource,
    NodeDownRecord,
    Notification,
    Resources,
    RoleAutoscale,
    RoleAutoscaleStatus,
    RoleStatus,
    SetupResult,
)
from kubedirector_core.api.config import CONFIG_NAME, ConfigSpec, KubeDirectorConfig
from kubedirector_core.api.quantity import Quantity, parse_quantity

__all__ = [
    "API_VERSION",
    "CONFIG_NAME",
    "GROUP",
    "MAX_MEMBERS",
    "VERSION",
    "AppConfig",
    "AppRole",
    "AppService",
    "AppSpec",
    "AutoscaleDecision",
    "ClusterRole",
    "ClusterSpec",
    "ClusterStatus",
    "ClusterStorage",
    "Condition",
    "ConfigSpec",
    "DoneAction",
    "KubeDirectorApp",
    "KubeDirectorCluster",
    "KubeDirectorConfig",
    "Label",
    "MemberReadiness",
    "MemberStateDetail",
    "MemberStatus",
    "MetricSource",
    "MinStorage",
    "NodeDownRecord",
    "Notification",
    "ObjectMeta",
    "Quantity",
    "Resources",
    "RoleAutoscale",
    "RoleAutoscaleStatus",
    "RoleServices",
    "RoleStatus",
    "ServiceEndpoint",
    "SetupPackage",
    "SetupResult",
    "parse_quantity",
]
