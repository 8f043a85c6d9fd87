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
from kd_hadoop.topology import ROLE_DAEMONS, is_hadoop_layout
from kubedirector_core import (
    ClusterRole,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MemberFile,
    hookimpl,
)

#: Patterns matched against an app's distroID and name (see ``kd_claims``).
CLAIMS = ("*/cdh*", "*/hadoop*", "*/hdp*")


@hookimpl
def kd_claims() -> Sequence[str]:
    """Claim the Hadoop (HDFS and YARN) app types."""
    return CLAIMS


#: One NameNode per app; settings in configMeta that parse.
kd_validate_app = hookimpl(policies.app_problems)
#: One NameNode, DataNodes >= dfs.replication, NodeManagers big enough for YARN.
kd_validate_cluster = hookimpl(policies.cluster_problems)
#: A DataNode is ready once the NameNode reports it live.
kd_member_readiness = hookimpl(policies.member_readiness)
#: Decommission DataNodes/NodeManagers before a shrink; refuse to go below replication.
kd_on_resize = hookimpl(policies.resize_decision)
#: Replace lost members promptly; keep a NameNode's volume.
kd_on_node_down = hookimpl(policies.node_down_decision)
#: Size NodeManager roles from YARN's pending and allocated containers.
kd_autoscale_policy = hookimpl(policies.autoscale_nodemanagers)
#: NodeManager roles read the ResourceManager's ``/ws/v1/cluster/metrics``.
kd_metrics_endpoint = hookimpl(policies.metrics_endpoint)
#: Pending and allocated containers and pending apps from YARN's cluster metrics.
kd_read_metrics = hookimpl(policies.read_cluster_metrics)


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
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    member: Member,
    members: Sequence[Member],
) -> Sequence[MemberFile] | None:
    """The Hadoop configuration of ``member``, generated from the whole cluster."""
    if not is_hadoop_layout(app):
        return None
    view = confgen.ClusterView(app, cluster, HadoopSettings.of(app, cluster), members)
    return confgen.member_files(view, member)
