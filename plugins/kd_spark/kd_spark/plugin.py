"""The spark plugin: Spark standalone clusters configured, resized and scaled.

Hooks only: each one hands over to :mod:`kd_spark.policies` (decisions) or
:mod:`kd_spark.confgen` (generated files). See the README for the choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kd_spark import confgen, policies
from kd_spark.settings import SparkSettings
from kd_spark.topology import is_spark_layout
from kubedirector_core import (
    ClusterRole,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MemberFile,
    hookimpl,
)

#: Patterns matched against an app's distroID and name (see ``kd_claims``).
CLAIMS = ("*/spark*",)


@hookimpl
def kd_claims() -> Sequence[str]:
    """Claim the Spark app types."""
    return CLAIMS


#: One master per app; settings in configMeta that parse.
kd_validate_app = hookimpl(policies.app_problems)
#: One master, at most one history server and notebook, workers >= executor settings.
kd_validate_cluster = hookimpl(policies.cluster_problems)
#: Decommission leaving workers gracefully before a shrink.
kd_on_resize = hookimpl(policies.resize_decision)
#: Replace a lost master or worker promptly.
kd_on_node_down = hookimpl(policies.node_down_decision)
#: Size worker roles from the master's cores in use and waiting applications.
kd_autoscale_policy = hookimpl(policies.autoscale_workers)
#: Worker roles read the master's JSON status (``http://<master>:8080/json/``).
kd_metrics_endpoint = hookimpl(policies.metrics_endpoint)
#: Cores used and free, alive workers and waiting apps from the master's status.
kd_read_metrics = hookimpl(policies.read_master_status)


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
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    member: Member,
    members: Sequence[Member],
) -> Sequence[MemberFile] | None:
    """``spark-defaults.conf``, ``spark-env.sh`` (and GPU discovery) for ``member``."""
    if not is_spark_layout(app):
        return None
    view = confgen.ClusterView(app, cluster, SparkSettings.of(app, cluster), members)
    return confgen.member_files(view, member)
