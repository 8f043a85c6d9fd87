"""Autoscaling: ``kd_autoscale_policy`` picks a role's size; the resize path applies it.

For each role whose ``spec.roles[].autoscale`` is enabled, once per
evaluation interval, the policy is given the role's metrics
(``Observed.metrics[role]``) and its bounds: ``autoscale.minMembers`` and
``maxMembers`` narrowed to the app role's cardinality. Its answer, clamped to
the bounds, is a *recommendation*; recommendations are kept in the status
(``autoscale[].recommendations``) for the stabilization windows, as the
HorizontalPodAutoscaler does: the role grows only to the lowest count
recommended within the scale-up window and shrinks only to the highest count
recommended within the scale-down window, so a brief spike or dip changes
nothing and the size never flaps.

The result is the role's member count for planning (``autoscale[].desiredMembers``):
:func:`effective_cluster` gives the cluster with it in ``members``, so growing
and shrinking go through the normal resize path and ``kd_on_resize`` runs
(decommission before shrink). Every evaluation is recorded with its inputs
and reason in ``autoscale[].lastDecision``; a change of size is a Normal
Event ``Autoscaled``. Missing metrics, a policy that raises or answers
nonsense, or a role whose cardinality is fixed keep the current size, with
condition ``Autoscaling`` ``False`` saying why (and a Warning Event when that
reason first appears).

The runtime reads metrics only for the roles :func:`roles_due` names (the
same roles this module evaluates at the same ``now``), so a reconcile that is
not an evaluation costs no request; why a role's metrics could not be read
arrives in ``Observed.metric_errors`` and is the condition's message. The
plan asks to be reconciled again at the next role's evaluation time
(:attr:`AutoscaleOutcome.requeue_after`). Recommendations are kept while
younger than the longest window: a window of N seconds holds what was
recommended less than N seconds ago (times are whole seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kubedirector_core.api import ClusterRole, KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.api.cluster import RoleAutoscale
from kubedirector_core.errors import PluginError
from kubedirector_core.hooktypes import AutoscaleInput, Member
from kubedirector_core.plan import names, states
from kubedirector_core.plan.model import Observed, ObservedPod, PlannedEvent
from kubedirector_core.plugins import Hooks

FIELD: Final = "autoscale"
CONDITION: Final = "Autoscaling"
DEFAULT_INTERVAL_SECONDS: Final = 30
DEFAULT_SCALE_UP_WINDOW_SECONDS: Final = 0
DEFAULT_SCALE_DOWN_WINDOW_SECONDS: Final = 300
DEFAULT_TARGET_UTILIZATION: Final = 0.7
_CARDINALITY: Final = re.compile(r"^(\d+)(\+?)$")


@dataclass
class AutoscaleOutcome:
    """What autoscaling adds to a plan."""

    #: Member count per autoscaled role, for :func:`effective_cluster`.
    members: dict[str, int] = field(default_factory=dict)
    events: list[PlannedEvent] = field(default_factory=list)
    failures: list[PluginError] = field(default_factory=list)
    #: Roles that could not be evaluated: (role, reason, message).
    holds: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        """Ask to be reconciled again within ``seconds``."""
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds

    def condition(self) -> dict[str, Any] | None:
        """The ``Autoscaling`` condition, or None when no role is autoscaled."""
        if self.holds:
            role, reason, message = sorted(self.holds)[0]
            return _condition(False, reason, f"role {role}: {message}")
        if self.members:
            roles = ", ".join(f"{r}={n}" for r, n in sorted(self.members.items()))
            return _condition(True, "Evaluating", f"autoscaled roles: {roles}")
        return None


def _condition(value: bool, reason: str, message: str) -> dict[str, Any]:
    status = "True" if value else "False"
    return {"type": CONDITION, "status": status, "reason": reason, "message": message}


def enabled(role: ClusterRole) -> RoleAutoscale | None:
    """The role's autoscale settings when autoscaling is on."""
    settings = role.autoscale
    return settings if settings is not None and settings.enabled is not False else None


def roles_due(cluster: KubeDirectorCluster, app: KubeDirectorApp, now: datetime) -> tuple[str, ...]:
    """The autoscaled roles whose evaluation is due at ``now``: the ones to read metrics for.

    A role is due when it was never evaluated or its ``evaluationIntervalSeconds``
    passed since ``status.autoscale[].lastEvaluatedAt``; a role whose cardinality
    is fixed is never due. :func:`plan_autoscale` evaluates exactly these roles
    when given the same cluster and ``now``, so a reconcile that is not an
    evaluation reads no metrics.
    """
    status = cluster.status.to_wire() if cluster.status is not None else {}
    evaluated = {str(r.get("role")): r.get("lastEvaluatedAt") for r in status.get(FIELD) or []}
    due = []
    for role in cluster.spec.roles:
        settings = enabled(role)
        if settings is None:
            continue
        try:
            _bounds(app, role, settings)
        except ValueError:
            continue
        due_at = _due_at(evaluated.get(role.id), settings)
        if due_at is None or now >= due_at:
            due.append(role.id)
    return tuple(due)


def _interval(settings: RoleAutoscale) -> int:
    return settings.evaluation_interval_seconds or DEFAULT_INTERVAL_SECONDS


def _due_at(last_evaluated: object, settings: RoleAutoscale) -> datetime | None:
    """When the role is next evaluated; ``None``: never evaluated, so now."""
    if last_evaluated is None:
        return None
    return _parse(str(last_evaluated)) + timedelta(seconds=_interval(settings))


def listed_members(
    cluster: KubeDirectorCluster,
    pods: Mapping[str, ObservedPod],
    *,
    domain_base: str = names.CLUSTER_DOMAIN,
) -> tuple[Member, ...]:
    """Every current member (not leaving) of every role, for the metrics hooks.

    Roles in the cluster's spec order, members by ordinal; a metrics hook
    picks the ones it needs by ``Member.role`` (a worker role's metrics are
    often served by the app's master).
    """
    status = cluster.status.to_wire() if cluster.status is not None else {}
    by_role = {str(r.get("id")): r for r in status.get("roles") or []}
    found: list[Member] = []
    for spec in cluster.spec.roles:
        listed = [
            m
            for m in by_role.get(spec.id, {}).get("members") or []
            if m.get("state") in states.LISTED_STATES
        ]
        listed.sort(key=lambda m: names.ordinal_of(str(m["pod"])))
        found += [
            Member(
                name=str(m["pod"]),
                role=spec.id,
                ordinal=names.ordinal_of(str(m["pod"])),
                hostname=names.fqdn(cluster, str(m["pod"]), base=domain_base),
                node_name=pod.node_name if (pod := pods.get(str(m["pod"]))) else None,
                state=str(m.get("state") or ""),
                node_id=int(m["nodeID"]) if m.get("nodeID") is not None else None,
            )
            for m in listed
        ]
    return tuple(found)


def plan_autoscale(
    observed: Observed, app: KubeDirectorApp, hooks: Hooks, status: dict[str, Any]
) -> AutoscaleOutcome:
    """Evaluate every autoscaled role that is due; update ``status[FIELD]`` in place."""
    outcome = AutoscaleOutcome()
    previous = {str(r.get("role")): dict(r) for r in status.get(FIELD) or []}
    records = []
    for role in observed.cluster.spec.roles:
        settings = enabled(role)
        if settings is None:
            continue
        record = previous.get(role.id) or {"role": role.id}
        _evaluate(observed, app, hooks, role, settings, record, outcome)
        records.append(record)
    if records:
        status[FIELD] = records
    else:
        status.pop(FIELD, None)
    return outcome


def _bounds(app: KubeDirectorApp, role: ClusterRole, settings: RoleAutoscale) -> tuple[int, int]:
    """The autoscale bounds narrowed to the app role's cardinality; raises ValueError if fixed."""
    app_role = app.role(role.id)
    match = _CARDINALITY.match(app_role.cardinality if app_role is not None else "0+")
    low, open_ended = (int(match.group(1)), bool(match.group(2))) if match else (0, True)
    if not open_ended:
        raise ValueError(f"the app's cardinality of role {role.id} is fixed at {low}")
    low = max(low, settings.min_members)
    if low > settings.max_members:
        raise ValueError(
            f"autoscale.maxMembers ({settings.max_members}) is below the role's minimum ({low})"
        )
    return low, settings.max_members


def _evaluate(
    observed: Observed,
    app: KubeDirectorApp,
    hooks: Hooks,
    role: ClusterRole,
    settings: RoleAutoscale,
    record: dict[str, Any],
    outcome: AutoscaleOutcome,
) -> None:
    spec_members = role.members if role.members is not None else settings.min_members
    try:
        low, high = _bounds(app, role, settings)
    except ValueError as error:
        outcome.holds.append((role.id, "FixedCardinality", str(error)))
        record.pop("desiredMembers", None)
        return
    current = int(record.get("desiredMembers", max(low, min(high, spec_members))))
    current = max(low, min(high, current))
    record["desiredMembers"] = current
    outcome.members[role.id] = current
    interval = _interval(settings)
    due = _due_at(record.get("lastEvaluatedAt"), settings)
    if due is not None and observed.now < due:
        outcome.requeue((due - observed.now).total_seconds())
        _carry_hold(record, role.id, outcome)
        return
    outcome.requeue(float(interval))
    record["lastEvaluatedAt"] = _time(observed.now)
    metrics = dict(observed.metrics.get(role.id) or {})
    source = settings.metric_source.type if settings.metric_source else "Resource"
    decision: dict[str, Any] = {
        "at": _time(observed.now),
        "currentMembers": current,
        "metrics": metrics,
    }
    unread = observed.metric_errors.get(role.id)
    if unread is not None or (not metrics and source != "Plugin"):
        detail = f": {unread}" if unread else ""
        decision.update(
            desiredMembers=current,
            reason=f"no metrics from the {source} source{detail}; keeping {current} members",
        )
        _hold(record, decision, role.id, "MetricsUnavailable", outcome)
        return
    request = AutoscaleInput(
        role=role.id,
        current_members=current,
        min_members=low,
        max_members=high,
        metrics=metrics,
        target_utilization=settings.target_utilization or DEFAULT_TARGET_UTILIZATION,
    )
    try:
        recommended, plugin = hooks.autoscale_decision(app, observed.cluster, request)
    except PluginError as error:
        outcome.failures.append(error)
        decision.update(desiredMembers=current, reason=f"size kept: {error}")
        _hold(record, decision, role.id, "PolicyFailed", outcome)
        return
    desired = _stabilize(observed.now, settings, record, current, recommended)
    decision.update(
        recommendedMembers=recommended,
        desiredMembers=desired,
        plugin=plugin,
        reason=_reason(current, recommended, desired),
    )
    record["lastDecision"] = decision
    record["desiredMembers"] = desired
    outcome.members[role.id] = desired
    if desired != current:
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items()))
        outcome.events.append(
            PlannedEvent(
                "Normal",
                "Autoscaled",
                f"role {role.id}: {current} -> {desired} members (policy {plugin} "
                f"recommended {recommended} from {shown or 'no metrics'})",
            )
        )


def _stabilize(
    now: datetime, settings: RoleAutoscale, record: dict[str, Any], current: int, recommended: int
) -> int:
    """The count the windows allow, after adding ``recommended`` to the history."""
    up = settings.scale_up_stabilization_seconds
    down = settings.scale_down_stabilization_seconds
    up_window = DEFAULT_SCALE_UP_WINDOW_SECONDS if up is None else up
    down_window = DEFAULT_SCALE_DOWN_WINDOW_SECONDS if down is None else down
    horizon = now - timedelta(seconds=max(up_window, down_window))
    history = [r for r in record.get("recommendations") or [] if _parse(str(r["at"])) > horizon]
    history.append({"at": _time(now), "members": recommended})
    record["recommendations"] = history

    def within(seconds: int) -> list[int]:
        start = now - timedelta(seconds=seconds)
        return [int(r["members"]) for r in history if _parse(str(r["at"])) >= start]

    if recommended > current:
        return max(current, min(within(up_window)))
    if recommended < current:
        return min(current, max(within(down_window)))
    return current


def _reason(current: int, recommended: int, desired: int) -> str:
    if desired == current and recommended != current:
        direction = "up" if recommended > current else "down"
        return f"recommended {recommended}; held at {current} by the scale-{direction} window"
    if desired == current:
        return f"recommended {recommended}: no change"
    return f"recommended {recommended}; scaling to {desired}"


def _hold(
    record: dict[str, Any],
    decision: dict[str, Any],
    role: str,
    reason: str,
    outcome: AutoscaleOutcome,
) -> None:
    old = record.get("lastDecision") or {}
    record["lastDecision"] = decision
    outcome.holds.append((role, reason, str(decision["reason"])))
    if old.get("reason") != decision["reason"]:
        outcome.events.append(
            PlannedEvent("Warning", f"Autoscale{reason}", f"role {role}: {decision['reason']}")
        )


def _carry_hold(record: dict[str, Any], role: str, outcome: AutoscaleOutcome) -> None:
    """Between evaluations, a role held last time is still reported as held."""
    last = record.get("lastDecision") or {}
    if "recommendedMembers" not in last and last.get("reason"):
        reason = (
            "PolicyFailed" if str(last["reason"]).startswith("size kept") else "MetricsUnavailable"
        )
        outcome.holds.append((role, reason, str(last["reason"])))


def effective_cluster(
    cluster: KubeDirectorCluster, members: Mapping[str, int]
) -> KubeDirectorCluster:
    """``cluster`` with each autoscaled role's ``members`` set to its autoscaled count."""
    if not members:
        return cluster
    roles = [
        role.model_copy(update={"members": members[role.id]}) if role.id in members else role
        for role in cluster.spec.roles
    ]
    return cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"roles": roles})})


def _time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


__all__ = [
    "CONDITION",
    "FIELD",
    "AutoscaleOutcome",
    "effective_cluster",
    "listed_members",
    "plan_autoscale",
    "roles_due",
]
