"""The hadoop plugin: HDFS and YARN clusters configured, resized and healed.

Hooks only: each one hands over to :mod:`kd_hadoop.policies` (decisions)
or :mod:`kd_hadoop.confgen` (generated files). See the README for the
choices behind them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kd_hadoop import confgen, policies
from kd_hadoop.settings import HadoopSettings
from kd_hadoop.topology import ROLE_DAEMONS, Membership, is_hadoop_layout
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
CLAIMS = ("*/cdh*", "*/hadoop*", "*/hdp*")


@hookimpl
def kd_claims() -> Sequence[str]:
    """Claim the Hadoop (HDFS and YARN) app types."""
    return CLAIMS


@hookimpl
def kd_validate_app(app: KubeDirectorApp) -> Sequence[Problem]:
    """One NameNode per app; settings in configMeta that parse."""
    return policies.app_problems(app)


@hookimpl
def kd_validate_cluster(cluster: KubeDirectorCluster, app: KubeDirectorApp) -> Sequence[Problem]:
    """One NameNode, DataNodes >= dfs.replication, NodeManagers big enough for YARN."""
    return policies.cluster_problems(app, cluster)


@hookimpl
def kd_configmeta(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> Mapping[str, Any] | None:
    """Tell the setup scripts the replication and which daemons each role runs."""
    if not is_hadoop_layout(app):
        return None
    settings = HadoopSettings.of(app, cluster)
    return {
        "dfs_replication": settings.replication,
        "conf_dir": settings.conf_dir,
        "daemons": {role.id: list(ROLE_DAEMONS.get(role.id, ())) for role in cluster.spec.roles},
    }


@hookimpl
def kd_member_files(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role: ClusterRole, member: Member
) -> Sequence[MemberFile] | None:
    """The Hadoop configuration of ``member``, generated from the whole cluster."""
    if not is_hadoop_layout(app):
        return None
    settings = HadoopSettings.of(app, cluster)
    view = confgen.ClusterView(app, cluster, settings, Membership.of(app, cluster, member))
    return confgen.member_files(view, member)


@hookimpl
def kd_on_resize(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
) -> ResizeDecision | None:
    """Decommission DataNodes/NodeManagers before a shrink; refuse to go below replication."""
    return policies.resize_decision(app, cluster, resize)


@hookimpl
def kd_on_node_down(app: KubeDirectorApp, event: NodeDown) -> NodeDownDecision | None:
    """Replace lost members promptly; keep a NameNode's volume."""
    return policies.node_down_decision(app, event)


@hookimpl
def kd_autoscale_policy(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
) -> int | None:
    """Size NodeManager roles from YARN's pending and allocated containers."""
    return policies.autoscale_nodemanagers(app, cluster, request)
