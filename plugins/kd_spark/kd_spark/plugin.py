"""The spark plugin: Spark standalone clusters configured, resized and scaled.

Hooks only: each one hands over to :mod:`kd_spark.policies` (decisions) or
:mod:`kd_spark.confgen` (generated files). See the README for the choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kd_spark import confgen, policies
from kd_spark.settings import SparkSettings
from kd_spark.topology import Membership, is_spark_layout
from kubedirector_core import (
    AutoscaleInput,
    ClusterRole,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MemberFile,
    NodeDown,
    NodeDownDecision,
    Problem,
    ResizeDecision,
    RoleResize,
    hookimpl,
)

#: Patterns matched against an app's distroID and name (see ``kd_claims``).
CLAIMS = ("*/spark*",)


@hookimpl
def kd_claims() -> Sequence[str]:
    """Claim the Spark app types."""
    return CLAIMS


@hookimpl
def kd_validate_app(app: KubeDirectorApp) -> Sequence[Problem]:
    """One master per app; settings in configMeta that parse."""
    return policies.app_problems(app)


@hookimpl
def kd_validate_cluster(cluster: KubeDirectorCluster, app: KubeDirectorApp) -> Sequence[Problem]:
    """One master, at most one history server and notebook, workers >= executor settings."""
    return policies.cluster_problems(app, cluster)


@hookimpl
def kd_configmeta(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> Mapping[str, Any] | None:
    """Tell the setup scripts the executor defaults and the event log directory."""
    if not is_spark_layout(app):
        return None
    settings = SparkSettings.of(app, cluster)
    return {
        "conf_dir": settings.conf_dir,
        "event_log_dir": settings.event_log_dir,
        "executor_memory": settings.executor_memory,
        "executor_cores": settings.executor_cores,
    }


@hookimpl
def kd_member_files(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role: ClusterRole, member: Member
) -> Sequence[MemberFile] | None:
    """``spark-defaults.conf``, ``spark-env.sh`` (and GPU discovery) for ``member``."""
    if not is_spark_layout(app):
        return None
    settings = SparkSettings.of(app, cluster)
    view = confgen.ClusterView(app, cluster, settings, Membership.of(app, cluster, member))
    return confgen.member_files(view, member)


@hookimpl
def kd_on_resize(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
) -> ResizeDecision | None:
    """Decommission leaving workers gracefully before a shrink."""
    return policies.resize_decision(app, cluster, resize)


@hookimpl
def kd_on_node_down(app: KubeDirectorApp, event: NodeDown) -> NodeDownDecision | None:
    """Replace a lost master or worker promptly."""
    return policies.node_down_decision(app, event)


@hookimpl
def kd_autoscale_policy(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
) -> int | None:
    """Size worker roles from the master's cores in use and waiting applications."""
    return policies.autoscale_workers(app, cluster, request)
