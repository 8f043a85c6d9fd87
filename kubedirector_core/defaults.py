"""The core's own hook implementations: the policies used when no plugin answers.

This module is registered as the plugin named :data:`NAME` by
:func:`kubedirector_core.plugins.make_plugin_manager`. Its policies are marked
``trylast=True`` so that any plugin's answer comes first, whatever the order
plugins were registered in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kubedirector_core.hookspecs import hookimpl
from kubedirector_core.hooktypes import (
    CPU_UTILIZATION,
    AutoscaleInput,
    NodeDown,
    NodeDownDecision,
    NodeProblem,
)

#: The name the defaults are registered under; no entry point may use it.
NAME = "core"

#: How long a NotReady or unreachable node may stay so before its members are
#: replaced: Kubernetes' own default toleration for these taints.
NODE_DOWN_GRACE_SECONDS = 300.0

#: How often, at most, the node-down policy asks to be called again while it waits.
NODE_DOWN_RECHECK_SECONDS = 30.0

#: Relative deviation from the target utilization that does not change the
#: member count, as the HorizontalPodAutoscaler does, to avoid flapping.
AUTOSCALE_TOLERANCE = 0.1


@hookimpl
def kd_claims() -> Sequence[str]:
    """The defaults apply to every app."""
    return ("*",)


@hookimpl(trylast=True)
def kd_on_node_down(event: NodeDown) -> NodeDownDecision:
    """Replace a member whose node is gone; wait out the cluster's grace otherwise.

    The grace is ``event.grace_seconds`` (the cluster's
    ``spec.nodeDownGraceSeconds``, :data:`NODE_DOWN_GRACE_SECONDS` unless
    set). Never restarts a role or the cluster: that takes down healthy
    members, which only the app's plugin can judge worthwhile. Never forces
    the deletion of a pod on a node that still exists (``force`` stays
    False): only the app can say a second copy of a member is harmless.
    """
    node = event.node_name
    if event.problem is NodeProblem.GONE:
        return NodeDownDecision.replace_member(f"node {node} was deleted")
    grace = event.grace_seconds
    remaining = grace - event.down_for_seconds
    if remaining > 0:
        return NodeDownDecision.wait(
            f"node {node} is {event.problem.value} for {event.down_for_seconds:.0f}s; "
            f"replacing the member after {grace:.0f}s",
            retry_after_seconds=min(remaining, NODE_DOWN_RECHECK_SECONDS),
        )
    return NodeDownDecision.replace_member(
        f"node {node} is {event.problem.value} for {event.down_for_seconds:.0f}s"
    )


@hookimpl(trylast=True)
def kd_autoscale_policy(request: AutoscaleInput) -> int:
    """Steer CPU utilization towards the target, as the HorizontalPodAutoscaler does.

    Keeps the current count (within bounds) when the metric is missing, the
    role is empty, or utilization is within :data:`AUTOSCALE_TOLERANCE` of
    the target.
    """
    utilization = request.metrics.get(CPU_UTILIZATION)
    current = request.current_members
    if utilization is None or current == 0:
        return request.clamp(current)
    ratio = utilization / request.target_utilization
    if abs(ratio - 1.0) <= AUTOSCALE_TOLERANCE:
        return request.clamp(current)
    return request.clamp(math.ceil(current * ratio))
