"""PURE planning: (app, cluster, observed state, hooks) -> desired objects and member actions.

``runtime/`` observes, calls :func:`plan_cluster`, carries out the
:class:`Plan`, feeds each action's result back with :func:`record_outcome`,
and writes the status. Nothing here does I/O, reads the clock, or imports
kopf or a Kubernetes client. :func:`render_objects` gives the objects a new
cluster gets, offline (``kubedirector render``).
"""

from __future__ import annotations

from kubedirector_core.plan.cluster import plan_cluster
from kubedirector_core.plan.model import (
    GANG_GATE,
    UNREACHABLE_TAINT,
    ActionKind,
    ActionOutcome,
    ConnectedObject,
    Manifest,
    MemberAction,
    ObjectRef,
    Observed,
    ObservedNode,
    ObservedPod,
    Plan,
    PlannedEvent,
    PodDeletion,
    Taint,
)
from kubedirector_core.plan.offline import render_objects
from kubedirector_core.plan.status import outcome_event, record_outcome

__all__ = [
    "GANG_GATE",
    "UNREACHABLE_TAINT",
    "ActionKind",
    "ActionOutcome",
    "ConnectedObject",
    "Manifest",
    "MemberAction",
    "ObjectRef",
    "Observed",
    "ObservedNode",
    "ObservedPod",
    "Plan",
    "PlannedEvent",
    "PodDeletion",
    "Taint",
    "outcome_event",
    "plan_cluster",
    "record_outcome",
    "render_objects",
]
