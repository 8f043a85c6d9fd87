"""render_objects: what the operator would create for a new cluster, offline."""

from __future__ import annotations

from datetime import UTC, datetime

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plan.cluster import plan_cluster
from kubedirector_core.plan.model import Manifest, Observed
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.plugins import Hooks

#: The fixed clock of an offline render (nothing rendered depends on it).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def render_objects(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    hooks: Hooks,
    settings: OperatorSettings | None = None,
) -> list[Manifest]:
    """The objects a new ``cluster`` of ``app`` gets, in a stable order.

    The cluster is planned as if just created (its status is ignored):
    every member's StatefulSet replica and Service, after the plugins'
    ``kd_pre_create``. An invalid cluster renders nothing; check it with
    :func:`kubedirector_core.validation.validate_cluster` first to learn why.
    ``settings`` is the operator's KubeDirectorConfig (built-in values without).
    """
    fresh = cluster.model_copy(update={"status": None})
    observed = Observed(
        cluster=fresh,
        app=app,
        now=EPOCH,
        ungate_supported=True,
        settings=settings or OperatorSettings(),
    )
    plan = plan_cluster(observed, hooks)
    return list(plan.objects)
