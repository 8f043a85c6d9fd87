"""plan_cluster: from what is observed to what should exist and happen next.

One call plans one reconcile of one cluster. It is pure (the clock comes in
``observed.now``), never raises for a bad cluster or a failing plugin (both
end up in the returned status and events), and is stable: the same
observation gives the same plan, and a converged cluster plans no change.

Order of work, each step on a copy of the status:

1. validate the cluster against its app (core rules and plugins' rules);
   an invalid cluster gets ``Valid=False`` and nothing else is planned;
2. per role: add members up to the spec (fresh node ids), or mark the
   highest ordinals as leaving once ``kd_on_resize`` agrees; advance every
   member's state from what its pod shows (a joining member whose setup
   succeeded joins once its ``kd_member_readiness`` action, if any, is done,
   running that action meanwhile: see ``plan/readiness``);
3. render the objects (``kd_pre_create`` per role);
4. a configuration change (``spec.connections``, see ``configchange``):
   once members were told with ``--reconnect``, ask ``kd_on_config_change``
   and run its actions, once per change;
5. plan one in-container action per member: setup, else the head of its
   notification queue, else a plugin's resize action;
6. roll up the member states into the cluster's state, ``membersReady``,
   conditions, and events for what changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubedirector_core.api import AppRole, KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.errors import PluginError
from kubedirector_core.hooktypes import (
    DoneWhen,
    ExecAction,
    Member,
    MemberFile,
    ResizeDecision,
    ResizePhase,
    ResizeVerdict,
    RoleResize,
)
from kubedirector_core.plan import configchange, done, guest, names, readiness, states
from kubedirector_core.plan import configmeta as cm
from kubedirector_core.plan import members as rec
from kubedirector_core.plan.autoscale import effective_cluster, plan_autoscale
from kubedirector_core.plan.gang import plan_gang
from kubedirector_core.plan.model import (
    ActionKind,
    ClaimDeletion,
    MemberAction,
    ObjectRef,
    Observed,
    ObservedPod,
    Plan,
    PlannedEvent,
    PodDeletion,
)
from kubedirector_core.plan.nodedown import plan_node_down
from kubedirector_core.plan.render import (
    RoleSpec,
    headless_service,
    member_service,
    role_ports,
    role_specs,
    sort_objects,
    statefulset,
)
from kubedirector_core.plan.settings import TemplateSettings
from kubedirector_core.plan.status import finish_status, timestamp
from kubedirector_core.plugins import Hooks, PluginFailure
from kubedirector_core.problems import Problem
from kubedirector_core.validation import StorageFacts, has_errors, validate_cluster

#: How long a setup (fetching the package and ``--configure``) may run.
CONFIGURE_TIMEOUT: Final = 900.0
#: How long a notification (``--addnodes``, ``--delnodes``, ``--reconnect``) may run.
NOTIFY_TIMEOUT: Final = 300.0
#: Ask again after this long when an action could not be run at all.
RETRY_SECONDS: Final = 10.0
#: Ask again after this long while a plugin holds a resize without saying when.
RESIZE_RECHECK_SECONDS: Final = 15.0
#: Look again after this long while a configuration change's actions are not all done.
CONFIG_CHANGE_RECHECK_SECONDS: Final = 15.0


@dataclass
class _Work:
    """What one planning pass accumulates."""

    status: dict[str, Any]
    events: list[PlannedEvent] = field(default_factory=list)
    actions: list[MemberAction] = field(default_factory=list)
    deletions: list[ObjectRef] = field(default_factory=list)
    pod_deletions: list[PodDeletion] = field(default_factory=list)
    claim_deletions: list[ClaimDeletion] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)
    #: Per role: why a resize does not go ahead (reason, message), for conditions.
    resize_holds: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Conditions beyond the core set (``Admitted``, ``NodeDown``, ``Autoscaling``).
    conditions: list[dict[str, Any]] = field(default_factory=list)
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        self.requeue_after = (
            seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        )

    def fail(self, error: PluginError) -> None:
        self.failures.append(PluginFailure.from_error(error))


def plan_cluster(observed: Observed, hooks: Hooks) -> Plan:
    """Plan one reconcile of ``observed.cluster``: objects, actions, status and events.

    Never raises for a bad cluster, a missing app or a failing plugin: those
    are reported in the status (conditions ``Valid``, ``Degraded``,
    ``PluginFailed``) and as events.
    """
    observed = with_config_defaults(observed)
    cluster, app = observed.cluster, observed.app
    previous = cluster.status.to_wire() if cluster.status is not None else {}
    # A second serialization is a fresh copy, and cheaper than a deep copy of the first.
    work = _Work(status=cluster.status.to_wire() if cluster.status is not None else {})
    problems = _validate(observed, hooks)
    if app is None or has_errors(problems):
        status = finish_status(observed, previous, work.status, problems, work_view(work))
        return Plan(status=status, events=tuple(_condition_events(previous, status)))
    observed = _autoscale(observed, app, hooks, work)
    _Planner(observed, app, hooks, work).run()
    objects = _objects(observed, app, hooks, work)
    admission = plan_gang(observed, app, hooks, objects, previous)
    if admission.failure is not None:
        work.fail(admission.failure)
    if admission.condition is not None:
        work.conditions.append(admission.condition)
    if admission.requeue_after is not None:
        work.requeue(admission.requeue_after)
    status = finish_status(observed, previous, work.status, problems, work_view(work))
    events = [*_member_events(previous, status), *work.events, *admission.events]
    events += _condition_events(previous, status)
    return Plan(
        objects=tuple(sort_objects(objects)),
        deletions=tuple(work.deletions),
        actions=tuple(work.actions),
        status=status,
        events=tuple(events),
        requeue_after=work.requeue_after,
        ungate=admission.ungate,
        pod_deletions=tuple(work.pod_deletions),
        claim_deletions=tuple(work.claim_deletions),
        needs_connected_secrets=_needs_connected_secrets(observed, work.actions),
    )


#: The actions that write configmeta.json into the member.
_CONFIGMETA_ACTIONS = frozenset(
    {ActionKind.CONFIGURE, ActionKind.ADDNODES, ActionKind.DELNODES, ActionKind.RECONNECT}
)


def _needs_connected_secrets(observed: Observed, actions: Sequence[MemberAction]) -> bool:
    """True when ``actions`` write configmeta that lacks connected Secrets not read yet."""
    if observed.connected_secrets is not None:
        return False
    connections = observed.cluster.spec.connections
    wanted = (connections.secrets or []) if connections else []
    if not any(f"Secret/{name}" in observed.connected_config_versions for name in wanted):
        return False
    return any(action.kind in _CONFIGMETA_ACTIONS for action in actions)


def with_config_defaults(observed: Observed) -> Observed:
    """The observation with KubeDirectorConfig's defaults in the cluster's spec where it has none.

    ``serviceType`` and ``namingScheme`` left out (a cluster admitted without
    the mutating webhook) take the config's defaults; a cluster whose objects
    are already named keeps the naming scheme of those names, so that a later
    config change never renames a running cluster's objects.
    """
    settings = observed.settings
    spec = observed.cluster.spec
    update: dict[str, Any] = {}
    if spec.service_type is None and settings.default_service_type is not None:
        update["service_type"] = settings.default_service_type
    if spec.naming_scheme is None:
        scheme = names.recorded_naming_scheme(observed.cluster) or settings.default_naming_scheme
        if scheme is not None:
            update["naming_scheme"] = scheme
    if not update:
        return observed
    cluster = observed.cluster.model_copy(update={"spec": spec.model_copy(update=update)})
    return dataclasses.replace(observed, cluster=cluster)


def _autoscale(observed: Observed, app: KubeDirectorApp, hooks: Hooks, work: _Work) -> Observed:
    """Evaluate autoscaled roles; the observation with their counts as the cluster's members."""
    scaling = plan_autoscale(observed, app, hooks, work.status)
    for error in scaling.failures:
        work.fail(error)
    work.events += scaling.events
    condition = scaling.condition()
    if condition is not None:
        work.conditions.append(condition)
    if scaling.requeue_after is not None:
        work.requeue(scaling.requeue_after)
    return dataclasses.replace(
        observed, cluster=effective_cluster(observed.cluster, scaling.members)
    )


def work_view(work: _Work) -> Mapping[str, Any]:
    """What :func:`finish_status` needs to know of a planning pass."""
    return {
        "failures": work.failures,
        "resize_holds": work.resize_holds,
        "actions": work.actions,
        "conditions": work.conditions,
    }


def _validate(observed: Observed, hooks: Hooks) -> list[Problem]:
    storage = (
        StorageFacts(
            observed.storage_classes, observed.default_storage_class
        ).with_configured_default(observed.settings.default_storage_class)
        if observed.storage_classes
        else None
    )
    document = observed.cluster.to_wire()
    _, problems = validate_cluster(document, observed.app, storage=storage, plugin_rules=hooks)
    return problems


# ---------------------------------------------------------------------------
# Members


class _Planner:
    """One planning pass over the members of a valid cluster."""

    def __init__(self, observed: Observed, app: KubeDirectorApp, hooks: Hooks, work: _Work):
        self.observed = observed
        self.cluster = observed.cluster
        self.app = app
        self.hooks = hooks
        self.work = work
        self.status = work.status
        self.specs = {spec.id: spec for spec in role_specs(app, observed.cluster)}
        #: The members' DNS domain base (KubeDirectorConfig's clusterSvcDomainBase).
        self.domain_base = observed.settings.svc_domain_base
        #: The cluster's desired members, as given to the hooks once membership is planned.
        self.members: tuple[Member, ...] = ()
        #: The roster for readiness hooks during the current role's pass (None: not built).
        self._roster: tuple[Member, ...] | None = None

    def run(self) -> None:
        self.status["clusterService"] = names.headless_service_name(self.cluster)
        for spec in self.specs.values():
            self._ensure_role(spec)
        for role in list(rec.role_records(self.status)):
            self._advance_role(role)
        self._node_down()
        self._connections()
        self._config_change()
        self._plan_actions()

    # -- membership ----------------------------------------------------------

    def _ensure_role(self, spec: RoleSpec) -> None:
        role = rec.find_role(self.status, spec.id)
        if role is None:
            role = {"id": spec.id, "members": []}
            rec.role_records(self.status).append(role)
        role["statefulSet"] = names.statefulset_name(self.cluster, spec.id)
        members = rec.members_of(role)
        active = [m for m in members if m.get("state") in states.LISTED_STATES]
        leaving = [m for m in members if m.get("state") in states.LEAVING_STATES]
        if len(active) < spec.members and not leaving:
            self._grow(spec, role, spec.members - len(active))
        elif len(active) > spec.members:
            self._shrink(spec.id, role, active, spec.members)

    def _grow(self, spec: RoleSpec, role: rec.RoleRecord, count: int) -> None:
        members = rec.members_of(role)
        next_ordinal = max((names.ordinal_of(m["pod"]) for m in members), default=-1) + 1
        last_id = int(self.status.get("lastNodeID") or 0)
        has_ports = bool(role_ports(self.app, spec.id))
        for offset in range(count):
            pod = names.pod_name(role["statefulSet"], next_ordinal + offset)
            last_id += 1
            member: rec.MemberRecord = {
                "pod": pod,
                "state": states.CREATE_PENDING,
                "nodeID": last_id,
            }
            if has_ports:
                member["service"] = names.member_service_name(self.cluster, pod)
            if spec.cluster_role.storage is not None:
                member["pvc"] = names.pvc_name(pod)
            members.append(member)
        self.status["lastNodeID"] = last_id
        rec.sort_members(role)
        if self.cluster.status is not None and self.cluster.status.roles:
            self.work.events.append(
                PlannedEvent(
                    "Normal",
                    "Resizing",
                    f"role {spec.id}: adding {count} member(s)",
                )
            )

    def _shrink(
        self, role_id: str, role: rec.RoleRecord, active: list[rec.MemberRecord], desired: int
    ) -> None:
        ordered = sorted(active, key=lambda m: names.ordinal_of(m["pod"]))
        leaving = list(reversed(ordered[desired:]))
        decision = self._resize_decision(
            role_id, ResizePhase.BEFORE_SHRINK, len(active), desired, leaving=leaving
        )
        if decision is None or decision.verdict is not ResizeVerdict.PROCEED:
            return
        for member in leaving:
            member["state"] = states.DELETE_PENDING
        self._queue_for_others(
            role_id,
            "delnodes",
            sorted(leaving, key=_node_id),
            skip={m["pod"] for m in leaving},
        )
        self.work.events.append(
            PlannedEvent(
                "Normal",
                "Resizing",
                f"role {role_id}: removing {', '.join(sorted(m['pod'] for m in leaving))}",
            )
        )

    def _resize_decision(
        self,
        role_id: str,
        phase: ResizePhase,
        current: int,
        desired: int,
        *,
        leaving: Sequence[rec.MemberRecord] = (),
        joining: Sequence[rec.MemberRecord] = (),
    ) -> ResizeDecision | None:
        """The plugins' verdict; None when a plugin failed (the resize waits)."""
        leaving_pods = {m["pod"] for m in leaving}
        done_keys = done.done_keys(self.status, role_id)
        resize = RoleResize(
            role=role_id,
            phase=phase,
            current_members=current,
            desired_members=desired,
            leaving=tuple(self._member(role_id, m) for m in leaving),
            joining=tuple(self._member(role_id, m) for m in joining),
            done_keys=done_keys,
            members=tuple(m for m in self.roster() if m.name not in leaving_pods),
        )
        try:
            decision = self.hooks.on_resize(self.app, self.cluster, resize)
        except PluginError as error:
            self.work.fail(error)
            self.work.resize_holds[role_id] = ("ResizeWaiting", str(error))
            self.work.requeue(RESIZE_RECHECK_SECONDS)
            return None
        if decision.verdict is ResizeVerdict.REFUSE:
            self.work.resize_holds[role_id] = ("ResizeRefused", decision.reason)
        elif decision.verdict is ResizeVerdict.WAIT:
            self.work.resize_holds[role_id] = ("ResizeWaiting", decision.reason or "waiting")
            pending = [a for a in decision.actions if a.key not in done_keys]
            self._plugin_actions(role_id, pending)
            self.work.requeue(decision.retry_after_seconds or RESIZE_RECHECK_SECONDS)
            for action in pending:
                if action.done_when is DoneWhen.CHECK_SUCCEEDS:
                    self.work.requeue(action.poll_seconds)
        return decision

    def roster(self) -> tuple[Member, ...]:
        """Every desired member (not leaving), by role in spec order, then ordinal."""
        order = {role_id: index for index, role_id in enumerate(self.specs)}
        listed = [
            (role["id"], member)
            for role, member in rec.all_members(self.status)
            if member.get("state") in states.LISTED_STATES
        ]
        listed.sort(key=lambda rm: (order.get(rm[0], len(order)), names.ordinal_of(rm[1]["pod"])))
        return tuple(self._member(role_id, member) for role_id, member in listed)

    def _member(self, role_id: str, member: rec.MemberRecord) -> Member:
        pod = self.observed.pods.get(member["pod"])
        return Member(
            name=member["pod"],
            role=role_id,
            ordinal=names.ordinal_of(member["pod"]),
            hostname=names.fqdn(self.cluster, member["pod"], base=self.domain_base),
            node_name=pod.node_name if pod else None,
            state=str(member.get("state") or ""),
            node_id=int(member["nodeID"]) if member.get("nodeID") is not None else None,
        )

    # -- failed nodes ----------------------------------------------------------

    def _node_down(self) -> None:
        """Members on failed nodes: the policy's decision, carried out (see ``nodedown``)."""
        outcome = plan_node_down(self.observed, self.app, self.hooks, self.status, self._member)
        self.work.pod_deletions += outcome.deletions
        self.work.claim_deletions += outcome.claim_deletions
        self.work.events += outcome.events
        for error in outcome.failures:
            self.work.fail(error)
        if outcome.requeue_after is not None:
            self.work.requeue(outcome.requeue_after)
        for role_id, member in outcome.recovered:
            tag = str(member.get("containerID") or "")
            self._queue_for_others(role_id, "addnodes", [member], skip={member["pod"]}, tag=tag)

    # -- states ----------------------------------------------------------------

    def _advance_role(self, role: rec.RoleRecord) -> None:
        role_id = role["id"]
        self._roster = None
        spec = self.specs.get(role_id)
        members = rec.members_of(role)
        if spec is None:
            # The role left the spec (or the app): its members leave too.
            active = [m for m in members if m.get("state") in states.LISTED_STATES]
            if active:
                self._shrink(role_id, role, active, 0)
        for member in members:
            self._advance_member(role_id, spec, member)
        self._complete_joins(role_id, role)
        self._complete_leaves(role_id, role)
        for member in members:
            rec.prune(member)
        if spec is None or self._settled(spec, members):
            done.forget_role(self.status, role_id)
        if spec is None and not members:
            rec.role_records(self.status).remove(role)
            statefulset_name = role.get("statefulSet")
            if statefulset_name:
                self.work.deletions.append(
                    ObjectRef("apps/v1", "StatefulSet", statefulset_name, self.cluster.namespace)
                )

    def _advance_member(
        self, role_id: str, spec: RoleSpec | None, member: rec.MemberRecord
    ) -> None:
        pod = self._pod(member)
        state = member.get("state")
        if state == states.CREATE_PENDING and pod is not None:
            member["state"] = states.CREATING
        elif state in (states.CONFIGURED, states.CONFIG_ERROR) and spec is not None:
            if _failed_here(member, pod, self._setup_key(spec, member)):
                member["state"] = states.CONFIG_ERROR
            elif member.get("configured") and _same_container(member, pod):
                held = state == states.CONFIG_ERROR and readiness.record_of(member) is not None
                if not held:
                    member["state"] = states.CONFIGURED
                elif self._readiness(spec, member) is readiness.Verdict.READY:
                    # Held back by its readiness action until now: it joins, and the
                    # others hear of it as of any member that joins.
                    member["state"] = states.CONFIGURED
                    tag = str(member.get("containerID") or "")
                    self._queue_for_others(
                        role_id, "addnodes", [member], skip={member["pod"]}, tag=tag
                    )

    @staticmethod
    def _settled(spec: RoleSpec, members: Sequence[rec.MemberRecord]) -> bool:
        """True when no resize of the role is under way: its members are all it asks for."""
        states_now = [m.get("state") for m in members]
        return len(states_now) == spec.members and all(
            state in (states.CONFIGURED, states.CONFIG_ERROR) for state in states_now
        )

    def _complete_joins(self, role_id: str, role: rec.RoleRecord) -> None:
        """When every joining member of the role is set up, they all join at once."""
        spec = self.specs.get(role_id)
        joining = [m for m in rec.members_of(role) if m.get("state") in states.JOINING_STATES]
        if spec is None or not joining:
            return
        settled: list[rec.MemberRecord] = []
        joined: list[rec.MemberRecord] = []
        for member in joining:
            if member.get("state") != states.CREATING:
                continue
            pod = self._pod(member)
            if member.get("configured") and _same_container(member, pod):
                # Judged on every pass, so that each member's readiness action runs.
                verdict = self._readiness(spec, member)
                if verdict is not readiness.Verdict.WAITING:
                    settled.append(member)
                if verdict is readiness.Verdict.READY:
                    joined.append(member)
            elif _failed_here(member, pod, self._setup_key(spec, member)):
                settled.append(member)
        if len(settled) < len(joining):
            return
        current = sum(1 for m in rec.members_of(role) if m.get("state") in (states.CONFIGURED,))
        if joined and self._was_configured():
            decision = self._resize_decision(
                role_id, ResizePhase.AFTER_GROW, current, current + len(joined), joining=joined
            )
            if decision is None or decision.verdict is not ResizeVerdict.PROCEED:
                return
        joined_pods = {m["pod"] for m in joined}
        for member in joining:
            ready = member["pod"] in joined_pods
            member["state"] = states.CONFIGURED if ready else states.CONFIG_ERROR
        self._queue_for_others(
            role_id, "addnodes", joined, skip={m["pod"] for m in joining}, only_new=True
        )

    def _readiness(self, spec: RoleSpec, member: rec.MemberRecord) -> readiness.Verdict:
        """Whether a set-up member is ready; runs its plugin's readiness action meanwhile."""
        detail = rec.detail(member)
        try:
            answer = self.hooks.member_readiness_from(
                self.app,
                self.cluster,
                spec.cluster_role,
                self._member(spec.id, member),
                self._desired_members(),
            )
            if answer is not None:
                self._check_target(answer[0], answer[1])
        except PluginError as error:
            self.work.fail(error)
            detail[readiness.WAITING_FOR] = f"kd_member_readiness of plugin {error.plugin}: {error}"
            self.work.requeue(RESIZE_RECHECK_SECONDS)
            return readiness.Verdict.WAITING
        if answer is None or answer[0].key in done.readiness_keys(self.status, member["pod"]):
            self._ready(member, done=answer is not None)
            return readiness.Verdict.READY
        action, plugin = answer
        if not self._set_up(action.member):
            # Where it runs is not set up yet (a NameNode still configuring): its clock
            # starts once it can run.
            detail[readiness.WAITING_FOR] = (
                f"{readiness.waiting_for(action, plugin, member['pod'])}, "
                f"once {action.member} is set up"
            )
            self.work.requeue(action.poll_seconds)
            return readiness.Verdict.WAITING
        record = readiness.start(member, action, plugin, timestamp(self.observed.now))
        if record.get("error"):
            return readiness.Verdict.FAILED
        if readiness.expired(record, action, self.observed.now):
            readiness.fail(member, record, f"did not pass within {action.timeout_seconds:g} s")
            return readiness.Verdict.FAILED
        guest_key = readiness.guest_key(action.key, str(member.get("containerID") or ""))
        self._plugin_action(spec.id, action, guest_key, readiness_of=member["pod"])
        detail[readiness.WAITING_FOR] = readiness.waiting_for(action, plugin, member["pod"])
        self.work.requeue(action.poll_seconds)
        return readiness.Verdict.WAITING

    def _desired_members(self) -> tuple[Member, ...]:
        """:meth:`roster`, built once per role's pass (readiness asks for every joining member)."""
        if self._roster is None:
            self._roster = self.roster()
        return self._roster

    def _check_target(self, action: ExecAction, plugin: str) -> None:
        """A readiness action must run in a member of the cluster."""
        if rec.find_member(self.status, action.member) is None:
            raise PluginError(
                plugin,
                f"readiness action {action.key!r} names member {action.member!r}, "
                "which is not a member of the cluster",
                "kd_member_readiness",
            )

    def _ready(self, member: rec.MemberRecord, *, done: bool) -> None:
        event = readiness.mark_ready(member, done=done)
        if event is not None:
            self.work.events.append(event)

    def _complete_leaves(self, role_id: str, role: rec.RoleRecord) -> None:
        members = rec.members_of(role)
        pending = [m for m in members if m.get("state") == states.DELETE_PENDING]
        if pending:
            key = _notify_key("delnodes", role_id, pending)
            if not any(
                entry.get("key") == key
                for _, other in rec.all_members(self.status)
                for entry in rec.queue(other)
            ):
                for member in pending:
                    member["state"] = states.DELETING
        for member in list(members):
            if member.get("state") == states.DELETING and self._pod(member, any_state=True) is None:
                self._delete_member_objects(member)
                members.remove(member)

    def _delete_member_objects(self, member: rec.MemberRecord) -> None:
        namespace = self.cluster.namespace
        if member.get("service"):
            self.work.deletions.append(ObjectRef("v1", "Service", member["service"], namespace))
        if member.get("pvc"):
            self.work.deletions.append(
                ObjectRef("v1", "PersistentVolumeClaim", member["pvc"], namespace)
            )

    def _was_configured(self) -> bool:
        status = self.cluster.status
        return status is not None and status.state in (
            states.CLUSTER_CONFIGURED,
            states.CLUSTER_UPDATING,
        )

    # -- notifications -----------------------------------------------------------

    def _queue_for_others(
        self,
        role_id: str,
        event: str,
        subjects: Sequence[rec.MemberRecord],
        *,
        skip: set[str],
        only_new: bool = False,
        tag: str = "",
    ) -> None:
        """Queue ``--addnodes``/``--delnodes`` about ``subjects`` for the configured members.

        Only members whose role's eventList has the event get it; with
        ``only_new``, only subjects a member has not seen in its configmeta
        (node id above its ``lastConfigDataGeneration``) are named, and a
        member that saw them all gets nothing. ``tag`` makes the notification's
        key differ from an earlier one about the same members (a replacement).
        """
        if not subjects:
            return
        for other_role, other in rec.all_members(self.status):
            if other.get("pod") in skip or other.get("state") != states.CONFIGURED:
                continue
            spec = self.specs.get(other_role["id"])
            if spec is None or not _handles(spec.app_role, event):
                continue
            seen = int(rec.detail(other).get("lastConfigDataGeneration") or 0)
            named = [m for m in subjects if not only_new or int(m.get("nodeID") or 0) > seen]
            if not named:
                continue
            fqdns = ",".join(
                names.fqdn(self.cluster, m["pod"], base=self.domain_base) for m in named
            )
            entry = {
                "arguments": [
                    f"--{event}",
                    "--nodegroup",
                    "1",
                    "--role",
                    role_id,
                    "--fqdns",
                    fqdns,
                ],
                "key": _notify_key(event, role_id, named, tag),
            }
            rec.set_queue(other, [*rec.queue(other), entry])
            rec.detail(other)["lastConfigDataGeneration"] = int(self.status.get("lastNodeID") or 0)

    def _connections(self) -> None:
        """Queue ``--reconnect`` for configured members when a connected object changed."""
        digest = _connection_digest(self.observed, self.connections_document())
        previous = str(self.status.get("lastConnectionHash") or "")
        version_text, _, previous_digest = previous.partition("-")
        if previous_digest == digest:
            return
        version = int(version_text) + 1 if version_text.isdigit() else 1
        self.status["lastConnectionHash"] = f"{version}-{digest}"
        if not previous:
            return
        key = f"reconnect-{version}-{digest[:12]}"
        for _, member in rec.all_members(self.status):
            if member.get("state") == states.CONFIGURED:
                rec.set_queue(
                    member, [*rec.queue(member), {"arguments": ["--reconnect"], "key": key}]
                )
                rec.detail(member)["lastConnectionVersion"] = version

    # -- configuration changes -------------------------------------------------------

    def _config_change(self) -> None:
        """Carry out a change of ``spec.connections`` on a running cluster: the hook, once.

        A cluster that was never configured, or has no record yet, takes its
        values as reconciled. Otherwise, once no member has a ``--reconnect``
        still to run, ``kd_on_config_change`` is asked with ``old`` rebuilt
        from ``reconciledConfig``, its actions run with the resize actions'
        machinery, and once all are done the new values are reconciled. The
        hook is asked again only to retry: after it raised, or while an action
        it gave is not done (failed, could not run, check not passed yet).
        """
        generation = self.cluster.metadata.generation
        values = configchange.current_values(self.cluster)
        recorded = configchange.recorded_values(self.status)
        target = configchange.digest(values)
        if (
            recorded is None
            or configchange.digest(recorded) == target
            or not self._was_configured()
        ):
            configchange.settle(self.status, generation, values)
            return
        if configchange.reconnect_pending(self.status):
            return  # members are told first; their outcomes' status write brings us back
        change = self.status.get(configchange.CHANGE) or {}
        if change.get("digest") != target:
            # The spec changed again meanwhile: what was done was for other values.
            done.forget_config_change(self.status)
            change = {}
        done_keys = done.config_change_keys(self.status)
        asked = change.get("actions") or []
        if asked and set(asked) <= done_keys:
            self._finish_config_change(recorded, values, asked)
            return
        old_generation = configchange.recorded_generation(self.status)
        old = configchange.old_cluster(self.cluster, recorded, old_generation)
        try:
            actions = self.hooks.on_config_change(self.app, self.cluster, old)
        except PluginError as error:
            self.work.fail(error)
            self.work.requeue(CONFIG_CHANGE_RECHECK_SECONDS)
            return
        keys = sorted({action.key for action in actions})
        pending = [action for action in actions if action.key not in done_keys]
        if not pending:
            self._finish_config_change(recorded, values, keys)
            return
        record: dict[str, Any] = {"digest": target, "actions": keys}
        if generation is not None:
            record["generation"] = generation
        self.status[configchange.CHANGE] = record
        self._plugin_actions(None, pending, hook=configchange.HOOK)
        self.work.requeue(CONFIG_CHANGE_RECHECK_SECONDS)
        for action in pending:
            if action.done_when is DoneWhen.CHECK_SUCCEEDS:
                self.work.requeue(action.poll_seconds)

    def _finish_config_change(
        self, recorded: Mapping[str, Any], values: Mapping[str, Any], keys: Sequence[str]
    ) -> None:
        fields = ", ".join(configchange.changed_fields(recorded, values))
        before = configchange.recorded_generation(self.status)
        generation = self.cluster.metadata.generation
        done_text = f"plugin actions done: {', '.join(keys)}" if keys else "no plugin actions"
        self.work.events.append(
            PlannedEvent(
                "Normal",
                "ConfigChanged",
                f"{fields} changed (generation {before} to {generation}): members were "
                f"told, {done_text}",
            )
        )
        configchange.settle(self.status, generation, values)

    def connections_document(self) -> dict[str, Any]:
        """configmeta's ``connections``, as the original fills it.

        The connected clusters whose app is known, and the connected
        ConfigMaps and Secrets that exist and carry their type label (see
        :func:`~kubedirector_core.plan.configmeta.configmap_connections`); a
        missing one is left out, as the original does. Secrets appear only
        when the runtime read them (``observed.connected_secrets``).
        """
        connected = self.cluster.spec.connections
        clusters: dict[str, Any] = {}
        for name in connected.clusters or [] if connected else []:
            other = self.observed.connected_clusters.get(name)
            other_app = self.observed.connected_apps.get(name)
            if other is not None and other_app is not None:
                clusters[name] = cm.connected_cluster_configmeta(
                    name, other, other_app, domain_base=self.domain_base
                )
        configmaps = self.observed.connected_configmaps
        secrets = self.observed.connected_secrets or {}
        configmap_names = (connected.configmaps or []) if connected else []
        secret_names = (connected.secrets or []) if connected else []
        return {
            "clusters": clusters,
            "configmaps": cm.configmap_connections(
                [configmaps[name] for name in configmap_names if name in configmaps]
            ),
            "secrets": cm.secret_connections(
                [secrets[name] for name in secret_names if name in secrets]
            ),
        }

    # -- actions -------------------------------------------------------------------

    def _plan_actions(self) -> None:
        self.members = self.roster()
        listed = cm.members_from_status(self._as_cluster())
        base = self._configmeta_base(listed)
        for role in rec.role_records(self.status):
            spec = self.specs.get(role["id"])
            for member in rec.members_of(role):
                action = self._member_action(spec, member, base, listed)
                if action is not None:
                    self.work.actions.append(action)

    def _as_cluster(self) -> KubeDirectorCluster:
        """The cluster with the status planned so far (for configmeta)."""
        wire = self.cluster.to_wire()
        wire["status"] = self.status
        return KubeDirectorCluster.from_wire(wire)

    def _configmeta_base(
        self, listed: Mapping[str, Sequence[cm.MemberEntry]]
    ) -> dict[str, Any] | None:
        try:
            plugin_metadata = self.hooks.configmeta(self.app, self.cluster, self.members)
        except PluginError as error:
            self.work.fail(error)
            return None
        return cm.cluster_configmeta(
            self.app,
            self.cluster,
            listed,
            connections=self.connections_document(),
            plugin_metadata=plugin_metadata,
            domain_base=self.domain_base,
        )

    def _member_action(
        self,
        spec: RoleSpec | None,
        member: rec.MemberRecord,
        base: dict[str, Any] | None,
        listed: Mapping[str, Sequence[cm.MemberEntry]],
    ) -> MemberAction | None:
        pod = self._pod(member)
        if spec is None or base is None or pod is None or not _running(pod):
            return None
        state = member.get("state")
        if state not in (states.CREATING, states.CONFIGURED, states.CONFIG_ERROR):
            return None
        key = self._setup_key(spec, member)
        needs_setup = not (member.get("configured") and _same_container(member, pod))
        if needs_setup:
            if _failed_here(member, pod, key):
                return None
            return self._configure_action(spec, member, pod, key, base)
        pending = rec.queue(member)
        if state == states.CONFIGURED and pending:
            return self._notify_action(spec, member, pod, pending[0], base)
        return None

    def _files(
        self, spec: RoleSpec, member: rec.MemberRecord, base: dict[str, Any]
    ) -> list[guest.GuestFile] | None:
        entry = cm.MemberEntry(
            member["pod"],
            int(member.get("nodeID") or 0),
            tuple(member.get("blockDevicePaths") or ()),
        )
        document = cm.node_configmeta(
            base, self.app, self.cluster, spec.id, entry, domain_base=self.domain_base
        )
        # Readable by the container's other users as the original's, unless it holds
        # connected Secrets' data: then only by its owner, the user setup runs as.
        mode = 0o600 if (base.get("connections") or {}).get("secrets") else 0o644
        files = [guest.GuestFile(guest.CONFIGMETA_PATH, _json(document), mode)]
        try:
            extra = self.hooks.member_files(
                self.app,
                self.cluster,
                spec.cluster_role,
                self._member(spec.id, member),
                self.members,
            )
        except PluginError as error:
            self.work.fail(error)
            return None
        files += [guest.GuestFile(f.path, f.content, f.mode) for f in _sorted_files(extra)]
        return files

    def _setup_key(self, spec: RoleSpec, member: rec.MemberRecord) -> str:
        """The configure key: the member's node id and a digest of what setup does."""
        package = spec.app_role.config_package
        injections = [i.to_wire() for i in spec.cluster_role.file_injections or []]
        material = {
            "package": package.to_wire() if package else None,
            "configure": _handles(spec.app_role, "configure"),
            "injections": injections,
        }
        digest = hashlib.sha256(_json(material).encode()).hexdigest()[:10]
        return f"configure-n{member.get('nodeID') or 0}-{digest}"

    def _configure_action(
        self,
        spec: RoleSpec,
        member: rec.MemberRecord,
        pod: ObservedPod,
        key: str,
        base: dict[str, Any],
    ) -> MemberAction | None:
        files = self._files(spec, member, base)
        if files is None:
            return None
        package = spec.app_role.config_package
        injections = [
            guest.Injection(
                url=i.src_url,
                dest_dir=i.dest_dir,
                mode=i.permissions.file_mode if i.permissions else None,
                owner=i.permissions.file_owner if i.permissions else None,
                group=i.permissions.file_group if i.permissions else None,
            )
            for i in spec.cluster_role.file_injections or []
        ]
        stdin = guest.guest_input(
            files,
            package_url=package.package_url if package else None,
            run_configure=_handles(spec.app_role, "configure"),
            injections=injections,
        )
        rec.detail(member)["lastConfigDataGeneration"] = int(self.status.get("lastNodeID") or 0)
        return MemberAction(
            key=key,
            member=member["pod"],
            container=names.APP_CONTAINER,
            kind=ActionKind.CONFIGURE,
            command=guest.guest_command("configure", key),
            stdin=stdin,
            timeout_seconds=CONFIGURE_TIMEOUT,
            container_id=pod.container_id,
        )

    def _notify_action(
        self,
        spec: RoleSpec,
        member: rec.MemberRecord,
        pod: ObservedPod,
        entry: Mapping[str, Any],
        base: dict[str, Any],
    ) -> MemberAction | None:
        files = self._files(spec, member, base)
        if files is None:
            return None
        arguments = [str(a) for a in entry.get("arguments") or []]
        key = str(entry.get("key") or _legacy_key(arguments))
        kind = {
            "--addnodes": ActionKind.ADDNODES,
            "--delnodes": ActionKind.DELNODES,
            "--reconnect": ActionKind.RECONNECT,
        }.get(arguments[0] if arguments else "", ActionKind.RECONNECT)
        return MemberAction(
            key=key,
            member=member["pod"],
            container=names.APP_CONTAINER,
            kind=kind,
            command=guest.guest_command("notify", key, *_split_legacy(arguments)),
            stdin=guest.guest_input(files, run_configure=False),
            timeout_seconds=NOTIFY_TIMEOUT,
            container_id=pod.container_id,
        )

    def _plugin_actions(
        self, role_id: str | None, actions: Sequence[ExecAction], *, hook: str | None = None
    ) -> None:
        """Run the ``actions`` not done yet of ``role_id``'s resize, or ``hook``'s, in members."""
        for action in actions:
            self._plugin_action(role_id, action, plugin_key(action.key), hook=hook)

    def _plugin_action(
        self,
        role_id: str | None,
        action: ExecAction,
        key: str,
        *,
        hook: str | None = None,
        readiness_of: str | None = None,
    ) -> None:
        """Run a plugin's ``action`` under the guest done key ``key`` once its member is set up.

        A member's own setup comes first: until it succeeded in the member's
        current container (a NameNode not configured yet, say), the action
        waits; the caller's requeue asks again.
        """
        if not self._set_up(action.member):
            return
        pod = self.observed.pods[action.member]
        command_text = " ".join(guest.quote(word) for word in action.command)
        extra: tuple[str, ...] = ()
        if action.done_when is DoneWhen.CHECK_SUCCEEDS:
            extra = (" ".join(guest.quote(word) for word in action.check),)
        self.work.actions.append(
            MemberAction(
                key=key,
                member=action.member,
                container=action.container or names.APP_CONTAINER,
                kind=ActionKind.PLUGIN,
                command=guest.guest_command("exec", key, command_text, *extra),
                timeout_seconds=action.timeout_seconds,
                container_id=pod.container_id,
                plugin_key=action.key,
                role=role_id,
                hook=hook,
                readiness_of=readiness_of,
                polls=action.done_when is DoneWhen.CHECK_SUCCEEDS,
            )
        )

    def _set_up(self, pod_name: str) -> bool:
        """True when ``pod_name`` runs and, if a member, its setup succeeded in its container."""
        pod = self.observed.pods.get(pod_name)
        if pod is None or not _running(pod):
            return False
        target = rec.find_member(self.status, pod_name)
        return target is None or bool(target.get("configured") and _same_container(target, pod))

    def _pod(self, member: rec.MemberRecord, *, any_state: bool = False) -> ObservedPod | None:
        pod = self.observed.pods.get(str(member.get("pod")))
        if pod is None or (pod.deleting and not any_state):
            return None
        return pod


# ---------------------------------------------------------------------------
# Objects


def _objects(
    observed: Observed, app: KubeDirectorApp, hooks: Hooks, work: _Work
) -> list[dict[str, Any]]:
    cluster = observed.cluster
    settings = observed.settings
    objects: list[dict[str, Any]] = [headless_service(app, cluster)]
    for spec in role_specs(app, cluster):
        role = rec.find_role(work.status, spec.id)
        members = rec.members_of(role) if role is not None else []
        replicas = sum(1 for m in members if m.get("state") != states.DELETING)
        replicas = _contiguous(members, replicas)
        role_objects = [
            statefulset(
                app,
                cluster,
                spec,
                replicas,
                observed.default_storage_class,
                template=_template_settings(observed, spec.id),
            )
        ]
        for member in members:
            service = member_service(
                app,
                cluster,
                spec,
                member["pod"],
                config_labels=settings.service_labels,
                config_annotations=settings.service_annotations,
            )
            if service is not None:
                role_objects.append(service)
        try:
            objects += hooks.pre_create(app, cluster, spec.cluster_role, role_objects)
        except PluginError as error:
            work.fail(error)
    return objects


def _template_settings(observed: Observed, role_id: str) -> TemplateSettings:
    """What the role's StatefulSet takes from KubeDirectorConfig: now if new, else as created.

    A StatefulSet's pod template is fixed once it exists (a change would
    restart every member, and claim templates cannot change at all), so an
    existing one keeps what it recorded at creation, nothing if it recorded
    nothing.
    """
    cluster = observed.cluster
    name = names.statefulset_name(cluster, role_id)
    live = observed.children.get(ObjectRef("apps/v1", "StatefulSet", name, cluster.namespace))
    if live is None:
        return observed.settings.template
    return TemplateSettings.from_statefulset(live)


def _contiguous(members: Sequence[rec.MemberRecord], replicas: int) -> int:
    """Replicas must cover every member still kept: the highest kept ordinal + 1."""
    kept = [names.ordinal_of(m["pod"]) for m in members if m.get("state") != states.DELETING]
    return max(replicas, max(kept, default=-1) + 1)


# ---------------------------------------------------------------------------
# Events


def _member_events(previous: Mapping[str, Any], status: Mapping[str, Any]) -> list[PlannedEvent]:
    before = {m.get("pod"): m.get("state") for _, m in _members(previous)}
    after = {m.get("pod"): m.get("state") for _, m in _members(status)}
    events = []
    for pod, state in after.items():
        if before.get(pod) == state:
            continue
        if state == states.CONFIGURED and before.get(pod) != states.CONFIGURED:
            events.append(PlannedEvent("Normal", "MemberConfigured", f"member {pod} is configured"))
        elif state == states.CONFIG_ERROR:
            events.append(
                PlannedEvent("Warning", "MemberConfigError", _config_error(str(pod), status))
            )
    for pod in before:
        if pod not in after:
            events.append(PlannedEvent("Normal", "MemberDeleted", f"member {pod} was removed"))
    return events


def _config_error(pod: str, status: Mapping[str, Any]) -> str:
    """Why member ``pod`` is in config error, for its Event."""
    member = next((m for _, m in _members(status) if m.get("pod") == pod), {})
    record = (member.get("stateDetail") or {}).get(readiness.RECORD) or {}
    if record.get("error"):
        return f"member {pod} did not become ready: {record['error']}"
    return f"setup of member {pod} failed"


def _members(status: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (str(role.get("id")), member)
        for role in status.get("roles") or []
        for member in role.get("members") or []
    ]


def _condition_events(previous: Mapping[str, Any], status: Mapping[str, Any]) -> list[PlannedEvent]:
    from kubedirector_core.plan.status import condition_events

    return condition_events(previous, status)


# ---------------------------------------------------------------------------
# Small pure helpers


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _handles(app_role: AppRole, event: str) -> bool:
    """True when the role's eventList asks for ``event`` (no list means every event)."""
    return app_role.event_list is None or event in app_role.event_list


def _running(pod: ObservedPod) -> bool:
    return pod.phase == "Running" and pod.container_id is not None and not pod.deleting


def _same_container(member: Mapping[str, Any], pod: ObservedPod | None) -> bool:
    return pod is not None and member.get("containerID") == pod.container_id


def _failed_here(member: Mapping[str, Any], pod: ObservedPod | None, key: str) -> bool:
    """True when setup with ``key`` already failed in the pod's current container."""
    detail = member.get("stateDetail") or {}
    return (
        pod is not None
        and not member.get("configured")
        and bool(detail.get("configErrorDetail"))
        and detail.get("lastSetupKey") == key
        and detail.get("configuringContainer") == pod.container_id
    )


def _notify_key(
    event: str, role_id: str, subjects: Sequence[Mapping[str, Any]], tag: str = ""
) -> str:
    ids = ".".join(str(m.get("nodeID") or 0) for m in sorted(subjects, key=_node_id))
    material = f"{role_id}\0{ids}" + (f"\0{tag}" if tag else "")
    digest = hashlib.sha256(material.encode()).hexdigest()[:10]
    return f"{event}-n{ids}-{digest}"[:150]


def _node_id(member: Mapping[str, Any]) -> int:
    return int(member.get("nodeID") or 0)


def _legacy_key(arguments: Sequence[str]) -> str:
    """A key for a notification queued by the original (which has none)."""
    return "notify-" + hashlib.sha256("\0".join(arguments).encode()).hexdigest()[:16]


def _split_legacy(arguments: Sequence[str]) -> list[str]:
    """The original queues ``"--nodegroup 1"`` as one argument; split such words."""
    return [word for argument in arguments for word in argument.split(" ") if word]


def plugin_key(key: str) -> str:
    """A plugin's action key made safe as a done-key file name."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)[:80]
    return f"plugin-{safe.lstrip('.')}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _sorted_files(files: Sequence[MemberFile]) -> list[MemberFile]:
    return sorted(files, key=lambda f: f.path)


def _connection_digest(observed: Observed, connections: Mapping[str, Any]) -> str:
    material = {
        "clusters": connections.get("clusters"),
        "missing": sorted(
            set(
                (observed.cluster.spec.connections.clusters or [])
                if observed.cluster.spec.connections
                else []
            )
            - set(connections.get("clusters") or {})
        ),
        "configs": dict(sorted(observed.connected_config_versions.items())),
    }
    return hashlib.sha256(_json(material).encode()).hexdigest()[:16]
