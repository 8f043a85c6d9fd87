"""Members on failed nodes: detect, ask ``kd_on_node_down``, carry out, record.

A member is *on a failed node* when its pod (not being deleted) is bound to a
node that is NotReady, whose Ready condition is Unknown or that carries the
unreachable taint (``unreachable``), or that no longer exists (``gone``; only
believed when ``Observed.nodes_known``). For each such member the policy is
asked on every reconcile until its decision is carried out:

* ``wait``: nothing happens; asked again after ``retry_after_seconds``;
* ``replace-member``: the member's pod is deleted (``Plan.pod_deletions``),
  so the StatefulSet re-creates it on a healthy node with the same name and
  volume claim -- unless that claim's volume cannot follow (below);
* ``restart-role`` / ``restart-cluster``: every pod of the role / cluster is
  deleted the same way.

When a deletion is forced (grace period 0) is decided by :func:`may_force`,
the safety rule: only for a pod on a failed node that is gone, that carries
the :data:`OUT_OF_SERVICE_TAINT` (a person confirmed it is shut down), or
whose decision opted in with ``force`` (the app tolerates or fences a second
copy). Otherwise the pod is deleted gracefully, which only its node's kubelet
can complete: on a cut-off node it never does, so no second copy of the member
can run against its volume (Kubernetes itself forces such a delete only on a
deleted or out-of-service node). While that lasts, the record's ``waitingFor``
and a Warning Event ``NodeDownBlocked`` tell a person to delete the Node or
taint it out-of-service; the deletion is then forced. Pods on healthy nodes
(a restart) are always deleted gracefully: that completes.

A claim whose volume cannot follow the pod -- its PersistentVolume's
required ``nodeAffinity`` allows only the failed node, as a local volume's
does (:func:`pinned_node`, reported by the runtime in
``Observed.pinned_claims``) -- would keep the new pod Pending for ever. When
such a member's pod is deleted forcibly because its node is gone or carries
the :data:`OUT_OF_SERVICE_TAINT`, the claim is deleted with it, first
(``Plan.claim_deletions``, with a uid precondition): the StatefulSet then
creates a fresh claim, bound to a volume of a healthy node, and the member is
set up afresh on its empty volume. The record says so (``volumeRecreated``,
``volumeReason``, ``recreatedClaims``) and so does a Warning Event
:data:`VOLUME_RECREATED_REASON`. A claim whose volume can follow is never
deleted, nor any claim of a member whose node is only NotReady or
unreachable (it may come back with the data), even when the policy forces.

Progress lives in the status's ``nodeDown`` records (one per member, keyed by
the uid of the pod found on the failed node, with the decision's ``force``),
so an operator restart neither repeats a deletion nor forgets one: a decision
to replace is recorded (with the uids to delete) one reconcile before any pod
is deleted; a recorded pod is deleted again only while it still exists
undeleted, or forcibly once :func:`may_force` allows it; a pod whose uid is
not recorded (the replacement) is never deleted. A replaced
member is set up again by the usual path (its container changed); once it is
configured, the other members whose role's eventList has ``addnodes`` are told
about it with ``--addnodes`` (see :attr:`NodeDownOutcome.recovered`).
Detection, decision, deciding plugin and reason are in the record and in a
Warning Event ``NodeDown`` whenever the decision changes. How long a node has
been down is measured from its Ready condition's ``lastTransitionTime``
(``ObservedNode.ready_since``), or, for a gone node or when that is unknown,
from the record's ``detectedAt``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.errors import PluginError
from kubedirector_core.hooktypes import Member, NodeDown, NodeDownAction, NodeProblem
from kubedirector_core.plan import members as rec
from kubedirector_core.plan import states
from kubedirector_core.plan.model import (
    ClaimDeletion,
    Observed,
    ObservedNode,
    ObservedPod,
    PinnedClaim,
    PlannedEvent,
    PodDeletion,
)
from kubedirector_core.plugins import Hooks

FIELD: Final = "nodeDown"
#: Finished records kept for people (``kubedirector status``), newest last.
KEEP_FINISHED: Final = 10
#: The grace when the cluster sets none (``spec.nodeDownGraceSeconds``).
DEFAULT_GRACE_SECONDS: Final = 300.0
#: Ask again this often while pods are being replaced.
REPLACE_RECHECK_SECONDS: Final = 10.0

WAITING, REPLACING, RECOVERING, DONE = "waiting", "replacing", "recovering", "done"

#: The taint a person puts on a node confirmed shut down (Kubernetes' non-graceful
#: node shutdown); its pods may then be deleted forcibly.
OUT_OF_SERVICE_TAINT: Final = "node.kubernetes.io/out-of-service"
#: The Warning Event of a replacement waiting for its node to be confirmed gone.
BLOCKED_REASON: Final = "NodeDownBlocked"
#: The Warning Event of a member whose volume is recreated on another node.
VOLUME_RECREATED_REASON: Final = "NodeDownVolumeRecreated"
#: The node label a local volume's ``nodeAffinity`` names its node by.
HOSTNAME_LABEL: Final = "kubernetes.io/hostname"


@dataclass
class NodeDownOutcome:
    """What node-down handling adds to a plan."""

    deletions: list[PodDeletion] = field(default_factory=list)
    claim_deletions: list[ClaimDeletion] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    failures: list[PluginError] = field(default_factory=list)
    #: Members replaced and configured again: (role id, member record), to announce.
    recovered: list[tuple[str, rec.MemberRecord]] = field(default_factory=list)
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        """Ask to be reconciled again within ``seconds``."""
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds


def problem_of(observed: Observed, pod: ObservedPod) -> tuple[NodeProblem, float] | None:
    """The trouble of ``pod``'s node and for how long (seconds), or None when healthy."""
    if pod.node_name is None:
        return None
    node = observed.nodes.get(pod.node_name)
    if node is None:
        return (NodeProblem.GONE, 0.0) if observed.nodes_known else None
    if node.ready_unknown or node.unreachable:
        problem = NodeProblem.UNREACHABLE
    elif not node.ready:
        problem = NodeProblem.NOT_READY
    else:
        return None
    since = node.ready_since
    down = (observed.now - since).total_seconds() if since is not None else 0.0
    return problem, max(0.0, down)


def out_of_service(node: ObservedNode | None) -> bool:
    """Whether ``node`` carries the :data:`OUT_OF_SERVICE_TAINT`."""
    return node is not None and any(t.key == OUT_OF_SERVICE_TAINT for t in node.taints)


def may_force(observed: Observed, pod: ObservedPod, *, opted_in: bool) -> bool:
    """Whether deleting ``pod`` forcibly (grace period 0) is safe: the rule.

    True only when the pod's node has failed (:func:`problem_of`) and either
    the node is gone, it carries the :data:`OUT_OF_SERVICE_TAINT`, or the
    policy ``opted_in`` (``NodeDownDecision.force``). A pod on a healthy node
    is never forced: its graceful delete completes.
    """
    trouble = problem_of(observed, pod)
    if trouble is None:
        return False
    if trouble[0] is NodeProblem.GONE:
        return True
    return opted_in or out_of_service(observed.nodes.get(str(pod.node_name)))


def volume_may_be_recreated(observed: Observed, pod: ObservedPod) -> bool:
    """Whether ``pod``'s claims pinned to its node may be deleted with it.

    True only when its node is gone or carries the :data:`OUT_OF_SERVICE_TAINT`:
    a node that is merely NotReady or unreachable may come back with the data.
    The runtime reads volumes (``Observed.pinned_claims``) only for such pods.
    """
    trouble = problem_of(observed, pod)
    if trouble is None:
        return False
    return trouble[0] is NodeProblem.GONE or out_of_service(observed.nodes.get(str(pod.node_name)))


def pinned_node(volume: Mapping[str, Any]) -> str | None:
    """The only node a PersistentVolume (wire form) can be used on, or None.

    A volume is pinned when every term of its required ``nodeAffinity``
    selects one and the same node by name: a ``kubernetes.io/hostname In
    [node]`` expression or a ``metadata.name In [node]`` field (a local
    volume's shape). A volume with no required affinity, or one that allows
    several nodes or a zone, can follow a pod and is not pinned.
    """
    spec = volume.get("spec") or {}
    required = (spec.get("nodeAffinity") or {}).get("required") or {}
    terms = required.get("nodeSelectorTerms") or []
    nodes = {_term_node(term) for term in terms}
    if len(nodes) != 1:
        return None
    return nodes.pop()


def _term_node(term: Mapping[str, Any]) -> str | None:
    """The one node a node selector term selects by name, or None when it is not that."""
    named: set[str] = set()
    selectors = [(HOSTNAME_LABEL, e) for e in term.get("matchExpressions") or []] + [
        ("metadata.name", f) for f in term.get("matchFields") or []
    ]
    for key, selector in selectors:
        if selector.get("key") != key or selector.get("operator") != "In":
            continue
        values = set(selector.get("values") or [])
        named = values if not named else named & values
        if len(named) != 1:
            return None
    return named.pop() if len(named) == 1 else None


def waiting_for(nodes: list[str]) -> str:
    """What a replacement stuck on a graceful delete waits for, for people."""
    named = ", ".join(sorted(set(nodes)))
    return (
        f"waiting for node {named} to be confirmed gone: the member's pod was deleted "
        f"gracefully, which only the node's kubelet can complete; delete the Node, or taint "
        f"it {OUT_OF_SERVICE_TAINT}=nodeshutdown:NoExecute once it is shut down"
    )


def plan_node_down(
    observed: Observed,
    app: KubeDirectorApp,
    hooks: Hooks,
    status: dict[str, Any],
    member_of: Callable[[str, rec.MemberRecord], Member],
) -> NodeDownOutcome:
    """Handle every member on a failed node; update ``status[FIELD]`` in place.

    ``member_of(role_id, record)`` builds the hook's :class:`Member`.
    """
    outcome = NodeDownOutcome()
    records = {str(r.get("member")): dict(r) for r in status.get(FIELD) or []}
    cluster = observed.cluster
    grace = float(
        cluster.spec.node_down_grace_seconds
        if cluster.spec.node_down_grace_seconds is not None
        else DEFAULT_GRACE_SECONDS
    )
    for role, member in list(rec.all_members(status)):
        name = str(member.get("pod"))
        record = records.get(name)
        pod = observed.pods.get(name)
        if record is not None and record.get("phase") in (REPLACING, RECOVERING):
            _follow(observed, status, role["id"], member, record, outcome)
            continue
        if pod is None or pod.deleting or member.get("state") in states.LEAVING_STATES:
            continue
        trouble = problem_of(observed, pod)
        if trouble is None:
            if record is not None and record.get("phase") == WAITING:
                records.pop(name)  # the node came back before anything was done
            continue
        problem, down_for = trouble
        if record is None or record.get("podUID") != pod.uid:
            record = {
                "member": name,
                "role": role["id"],
                "node": pod.node_name,
                "problem": problem.value,
                "podUID": pod.uid,
                "detectedAt": _time(observed.now),
            }
            records[name] = record
        record["problem"] = problem.value
        node = observed.nodes.get(str(pod.node_name))
        unknown_since = problem is NodeProblem.GONE or node is None or node.ready_since is None
        if unknown_since and record.get("detectedAt"):
            down_for = (observed.now - _parse(str(record["detectedAt"]))).total_seconds()
        event = NodeDown(
            member=member_of(role["id"], member),
            node_name=str(pod.node_name),
            problem=problem,
            down_for_seconds=down_for,
            has_persistent_storage=bool(member.get("pvc")),
            grace_seconds=grace,
            out_of_service=out_of_service(node),
        )
        _decide(observed, app, hooks, status, event, record, outcome)
    present = {str(m.get("pod")) for _, m in rec.all_members(status)}
    kept = [r for r in records.values() if r.get("member") in present or r.get("phase") == DONE]
    status_records = _prune(kept)
    if status_records:
        status[FIELD] = status_records
    else:
        status.pop(FIELD, None)
    return outcome


def _decide(
    observed: Observed,
    app: KubeDirectorApp,
    hooks: Hooks,
    status: dict[str, Any],
    event: NodeDown,
    record: dict[str, Any],
    outcome: NodeDownOutcome,
) -> None:
    try:
        decision, plugin = hooks.node_down_decision(app, observed.cluster, event)
    except PluginError as error:
        outcome.failures.append(error)
        outcome.requeue(REPLACE_RECHECK_SECONDS)
        return
    changed = record.get("decision") != decision.action.value
    if changed:
        record.update(
            decision=decision.action.value,
            plugin=plugin,
            reason=decision.reason,
            decidedAt=_time(observed.now),
        )
        forced = ", deleting forcibly as the policy allows" if decision.force else ""
        outcome.events.append(
            PlannedEvent(
                "Warning",
                "NodeDown",
                f"member {event.member.name}: node {event.node_name} is "
                f"{event.problem.value}; {decision.action.value}{forced} (decided by "
                f"{plugin}: {decision.reason})",
            )
        )
    if decision.action is NodeDownAction.WAIT:
        record["phase"] = WAITING
        outcome.requeue(decision.retry_after_seconds or REPLACE_RECHECK_SECONDS)
        return
    targets = _targets(observed, status, decision.action, event.member)
    record["phase"] = REPLACING
    record["replacedUIDs"] = sorted(p.uid for p in targets)
    if decision.force:
        record["force"] = True
    # Recorded first, deleted on the next reconcile (``_follow``): an operator that
    # dies between the two still finds the record, so the member is followed to
    # its return and announced.
    outcome.requeue(0.0)


def _targets(
    observed: Observed, status: dict[str, Any], action: NodeDownAction, member: Member
) -> list[ObservedPod]:
    if action is NodeDownAction.REPLACE_MEMBER:
        names = {member.name}
    else:
        names = {
            str(m.get("pod"))
            for role, m in rec.all_members(status)
            if action is NodeDownAction.RESTART_CLUSTER or role["id"] == member.role
        }
    return [
        pod
        for name in sorted(names)
        if (pod := observed.pods.get(name)) is not None and not pod.deleting
    ]


def _block(record: dict[str, Any], member: str, nodes: list[str], outcome: NodeDownOutcome) -> None:
    """Say (once) that the replacement waits for ``nodes`` to be confirmed gone; or clear it."""
    if not nodes:
        record.pop("waitingFor", None)
        return
    message = waiting_for(nodes)
    if record.get("waitingFor") != message:
        record["waitingFor"] = message
        outcome.events.append(
            PlannedEvent("Warning", BLOCKED_REASON, f"member {member}: {message}")
        )


def _follow(
    observed: Observed,
    status: dict[str, Any],
    role_id: str,
    member: rec.MemberRecord,
    record: dict[str, Any],
    outcome: NodeDownOutcome,
) -> None:
    """Carry a decision through: delete what is left, then wait for the member to return."""
    replaced = set(record.get("replacedUIDs") or ())
    opted_in = bool(record.get("force"))
    waiting = False
    blocked = []
    for old in observed.pods.values():
        if old.uid not in replaced:
            continue
        waiting = True
        force = may_force(observed, old, opted_in=opted_in)
        if not old.deleting or force:
            reason = str(record.get("reason") or "")
            if force:
                _recreate_volumes(observed, old, record, outcome)
            outcome.deletions.append(
                PodDeletion(pod=old.name, uid=old.uid, force=force, reason=reason)
            )
        if not force and problem_of(observed, old) is not None:
            blocked.append(str(old.node_name))
    _block(record, str(member.get("pod")), blocked, outcome)
    pod = observed.pods.get(str(member.get("pod")))
    if waiting or pod is None or pod.uid in replaced:
        outcome.requeue(REPLACE_RECHECK_SECONDS)
        return
    record["phase"] = RECOVERING
    if member.get("state") == states.CONFIGURED and member.get("containerID") == pod.container_id:
        record["phase"] = DONE
        record["recoveredAt"] = _time(observed.now)
        if record.get("decision") == NodeDownAction.REPLACE_MEMBER.value:
            outcome.recovered.append((role_id, member))
        outcome.events.append(
            PlannedEvent("Normal", "MemberRecovered", f"member {member['pod']} is back")
        )
    else:
        outcome.requeue(REPLACE_RECHECK_SECONDS)


def _recreate_volumes(
    observed: Observed, old: ObservedPod, record: dict[str, Any], outcome: NodeDownOutcome
) -> None:
    """Delete ``old``'s claims pinned to its gone or out-of-service node; say so once."""
    if not volume_may_be_recreated(observed, old):
        return
    pinned: list[tuple[str, PinnedClaim]] = sorted(
        (name, claim)
        for name, claim in observed.pinned_claims.items()
        if claim.pod == old.name and claim.node == old.node_name
    )
    if not pinned:
        return
    why = "; ".join(
        f"claim {name} is bound to volume {claim.volume}, which only node {claim.node} can reach"
        for name, claim in pinned
    )
    for name, claim in pinned:
        outcome.claim_deletions.append(
            ClaimDeletion(claim=name, uid=claim.uid, pod=old.name, reason=why)
        )
    recorded = set(record.get("recreatedClaims") or ())
    if {name for name, _ in pinned} <= recorded:
        return
    record["volumeRecreated"] = True
    record["volumeReason"] = why
    record["recreatedClaims"] = sorted(recorded | {name for name, _ in pinned})
    outcome.events.append(
        PlannedEvent(
            "Warning",
            VOLUME_RECREATED_REASON,
            f"member {old.name}: {why}; deleting the claim, so that the member starts afresh "
            "with a new volume on a healthy node",
        )
    )


def _prune(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    finished = [r for r in records if r.get("phase") == DONE]
    active = [r for r in records if r.get("phase") != DONE]
    finished.sort(key=lambda r: str(r.get("recoveredAt") or ""))
    return sorted(active + finished[-KEEP_FINISHED:], key=lambda r: str(r.get("member")))


def _time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


__all__ = [
    "FIELD",
    "HOSTNAME_LABEL",
    "OUT_OF_SERVICE_TAINT",
    "VOLUME_RECREATED_REASON",
    "NodeDownOutcome",
    "may_force",
    "out_of_service",
    "pinned_node",
    "plan_node_down",
    "problem_of",
    "volume_may_be_recreated",
    "waiting_for",
]
