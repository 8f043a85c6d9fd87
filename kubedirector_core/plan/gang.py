"""Gang admission: the members of a gang start all together, or none starts.

When ``kd_gang_policy`` answers, the pod template of every role it names
carries the scheduling gate :data:`~kubedirector_core.plan.model.GANG_GATE`,
so the StatefulSet creates those pods gated and the scheduler leaves them
alone. Each reconcile, :func:`plan_gang` asks whether the gated pods the gang
still needs (``min_members`` per role, less its pods already released) fit
on the nodes together (:mod:`kubedirector_core.plan.placement`); when they do,
``Plan.ungate`` names them all, and the runtime lifts their gates at once.
Gated pods beyond the minimum are released as soon as they fit too.

The condition ``Admitted`` says where the gang stands: ``True``/``Admitted``,
or ``False`` with reason ``WaitingForPods`` (the StatefulSet has not created
them all yet), ``InsufficientCapacity`` (and what is missing), or
``GangTimedOut`` once it waited longer than the policy's ``timeout_seconds``.

Without a policy nothing is gated and pods gated earlier are released. When
the hook fails, the gates stay as the observed StatefulSets have them and no
pod is released. Nothing is gated at all unless ``Observed.ungate_supported``
says the runtime can lift gates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.errors import PluginError
from kubedirector_core.hooktypes import GangPolicy
from kubedirector_core.plan import names
from kubedirector_core.plan.model import GANG_GATE, Manifest, Observed, PlannedEvent
from kubedirector_core.plan.placement import PodNeeds, first_fit, pod_needs, shortfall
from kubedirector_core.plugins import Hooks

CONDITION: Final = "Admitted"
#: Ask again this often while a gang waits: capacity freed elsewhere triggers nothing here.
WAIT_RECHECK_SECONDS: Final = 30.0


@dataclass
class GangOutcome:
    """What gang admission adds to a plan."""

    ungate: tuple[str, ...] = ()
    condition: dict[str, Any] | None = None
    events: list[PlannedEvent] = field(default_factory=list)
    requeue_after: float | None = None
    failure: PluginError | None = None


def plan_gang(
    observed: Observed,
    app: KubeDirectorApp,
    hooks: Hooks,
    objects: list[Manifest],
    previous: Mapping[str, Any],
) -> GangOutcome:
    """Gate the gang's StatefulSets in ``objects`` (in place) and decide whom to release."""
    if not observed.ungate_supported:
        return GangOutcome()
    try:
        policy = hooks.gang_policy(app, observed.cluster)
    except PluginError as error:
        _gate(objects, _gated_before(observed))
        old = _previous_condition(previous)
        return GangOutcome(condition=dict(old) if old else None, failure=error)
    if policy is None:
        stale = tuple(sorted(p.name for p in observed.pods.values() if p.gated and not p.deleting))
        return GangOutcome(ungate=stale)
    roles = [role for role in policy.min_members if _template(objects, role) is not None]
    _gate(objects, set(roles))
    outcome = _admit(observed, policy, roles, objects)
    _timeout(outcome, policy, previous, observed.now)
    outcome.events = _events(previous, outcome.condition)
    return outcome


def _template(objects: Sequence[Manifest], role: str) -> dict[str, Any] | None:
    for manifest in objects:
        if manifest.get("kind") != "StatefulSet":
            continue
        template: dict[str, Any] = manifest.get("spec", {}).get("template", {})
        if (template.get("metadata", {}).get("labels") or {}).get(names.ROLE_LABEL) == role:
            return template
    return None


def _gate(objects: Sequence[Manifest], roles: set[str]) -> None:
    for role in sorted(roles):
        template = _template(objects, role)
        if template is None:
            continue
        gates = template.setdefault("spec", {}).setdefault("schedulingGates", [])
        if not any(g.get("name") == GANG_GATE for g in gates):
            gates.append({"name": GANG_GATE})


def _gated_before(observed: Observed) -> set[str]:
    """Roles whose observed StatefulSet template carries the gang gate."""
    roles = set()
    for ref, manifest in observed.children.items():
        if ref.kind != "StatefulSet":
            continue
        template = manifest.get("spec", {}).get("template", {})
        gates = template.get("spec", {}).get("schedulingGates") or []
        role = (template.get("metadata", {}).get("labels") or {}).get(names.ROLE_LABEL)
        if role and any(g.get("name") == GANG_GATE for g in gates):
            roles.add(role)
    return roles


def _admit(
    observed: Observed, policy: GangPolicy, roles: Sequence[str], objects: Sequence[Manifest]
) -> GangOutcome:
    gated: dict[str, list[PodNeeds]] = {role: [] for role in roles}
    released = dict.fromkeys(roles, 0)
    for pod in sorted(observed.pods.values(), key=lambda p: names.ordinal_of(p.name)):
        if pod.role_id not in gated or pod.deleting:
            continue
        if not pod.gated:
            released[pod.role_id] += 1
            continue
        template = _template(objects, pod.role_id) or {}
        needs = pod_needs(pod.name, pod.role_id, template.get("spec") or {})
        if pod.requests:
            needs = PodNeeds(**{**needs.__dict__, "requests": dict(pod.requests)})
        gated[pod.role_id].append(needs)
    required: list[PodNeeds] = []
    missing: list[str] = []
    for role in roles:
        need = max(0, policy.min_members[role] - released[role])
        if len(gated[role]) < need:
            missing.append(f"role {role}: {released[role] + len(gated[role])} of {need} pods exist")
        required += gated[role][:need]
    if missing:
        return _waiting("WaitingForPods", "; ".join(missing))
    packing = first_fit(required, observed.nodes)
    if packing.unplaced:
        why = shortfall(packing.unplaced[0], required, observed.nodes)
        role = packing.unplaced[0].role
        return _waiting("InsufficientCapacity", f"role {role} {why}")
    optional = [n for role in roles for n in gated[role] if n not in required]
    extra = first_fit(optional, observed.nodes, packing.free)
    ungate = tuple(sorted([*packing.placed, *extra.placed]))
    total = sum(released.values()) + len(ungate)
    return GangOutcome(
        ungate=ungate,
        condition=_condition(True, "Admitted", f"{total} member(s) of the gang admitted together"),
    )


def _waiting(reason: str, message: str) -> GangOutcome:
    return GangOutcome(
        condition=_condition(False, reason, message), requeue_after=WAIT_RECHECK_SECONDS
    )


def _condition(value: bool, reason: str, message: str) -> dict[str, Any]:
    status = "True" if value else "False"
    return {"type": CONDITION, "status": status, "reason": reason, "message": message}


def _previous_condition(previous: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in previous.get("conditions") or [] if c.get("type") == CONDITION), None)


def _timeout(
    outcome: GangOutcome, policy: GangPolicy, previous: Mapping[str, Any], now: datetime
) -> None:
    """Past the policy's timeout a waiting gang is reported as timed out (still waiting)."""
    condition = outcome.condition
    old = _previous_condition(previous)
    if condition is None or condition["status"] != "False" or not old:
        return
    if old.get("status") != "False" or not old.get("lastTransitionTime"):
        return
    since = datetime.strptime(str(old["lastTransitionTime"]), "%Y-%m-%dT%H:%M:%SZ")
    waited = (now.replace(tzinfo=None) - since).total_seconds()
    if waited >= policy.timeout_seconds:
        condition["reason"] = "GangTimedOut"
        condition["message"] = (
            f"waited longer than {policy.timeout_seconds:g}s: " + condition["message"]
        )
    else:
        outcome.requeue_after = min(
            outcome.requeue_after or WAIT_RECHECK_SECONDS, policy.timeout_seconds - waited
        )


def _events(previous: Mapping[str, Any], condition: Mapping[str, Any] | None) -> list[PlannedEvent]:
    old = _previous_condition(previous) or {}
    if condition is None or old.get("reason") == condition["reason"]:
        return []
    if condition["status"] == "True":
        return [PlannedEvent("Normal", "GangAdmitted", condition["message"])]
    return [PlannedEvent("Warning", str(condition["reason"]), condition["message"])]


__all__ = ["CONDITION", "GangOutcome", "plan_gang"]
