"""One reconcile of one cluster: observe, plan, act.

:meth:`Reconciler.reconcile` runs in a worker thread on a
:class:`~kubedirector_core.runtime.cache.Snapshot` and returns what the
caches must learn from its own writes. In order, it:

1. removes every child and then the finalizer of a cluster being deleted;
2. adds the finalizer to a cluster that lacks it;
3. builds :class:`~kubedirector_core.plan.model.Observed` and calls the planner;
4. applies the planned objects that differ from the live ones, deletes the
   planned deletions, runs the in-container actions (bounded concurrency,
   each with a timeout) and feeds each outcome to ``record_outcome``;
5. when actions ran, plans again on the same snapshot with their outcomes
   (at most :data:`MAX_PASSES` plans): a plan that only changes the status
   and Events, or runs actions not yet planned, is taken up here (a member
   configured, the others told, the roll-up), instead of one more status
   write and reconcile for each step; anything else waits for the next
   reconcile;
6. writes the status once, only if it changed, then posts the planned Events
   (each once).

Failures stay with their cluster: a hook error, an invalid cluster, a refused
write or a failed command becomes a condition in that cluster's status and a
Warning Event (posted once, when the condition appears or changes), never an
exception that stops the worker.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pydantic
from kubernetes import client

from kubedirector_core.api import ClusterStatus, KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.errors import PluginError
from kubedirector_core.plan.model import (
    GANG_GATE,
    ActionOutcome,
    ClaimDeletion,
    Manifest,
    MemberAction,
    ObjectRef,
    Observed,
    Plan,
    PlannedEvent,
    PodDeletion,
)
from kubedirector_core.plan.names import label_value
from kubedirector_core.plugins import Hooks, PluginFailure
from kubedirector_core.runtime.autoscale_metrics import MetricsReader
from kubedirector_core.runtime.cache import Snapshot
from kubedirector_core.runtime.connectedconfigs import (
    ConnectionReadError,
    connected_configmaps,
    read_configmaps,
    read_secrets,
)
from kubedirector_core.runtime.drift import AppliedMemory, fingerprint
from kubedirector_core.runtime.kubeapi import JSON_PATCH, ApiError, KubeApi
from kubedirector_core.runtime.objects import (
    CHILD_KINDS,
    CLUSTER_LABEL,
    COMPONENT,
    EVENT,
    FINALIZER,
    KUBEDIRECTOR_CLUSTER,
    POD,
    PVC,
    ref_of,
)
from kubedirector_core.runtime.pinnedclaims import pinned_claims
from kubedirector_core.runtime.podexec import ExecError, exec_in_pod
from kubedirector_core.runtime.statuspatch import has_condition, merge_patch, with_condition

log = logging.getLogger(__name__)

#: Conditions only the runtime sets (the planner reports plugin failures itself); a
#: planned status never carries them over, so they vanish once the cause is fixed.
RUNTIME_CONDITIONS = frozenset({"ApplyFailed", "ReconcileFailed"})
#: Plans one reconcile may make: the first, then plans on the same snapshot that
#: take up its actions' outcomes (see :meth:`Reconciler._settle`).
MAX_PASSES = 3
#: How much of a command's output is kept for the member's status.
OUTPUT_TAIL = 4096

#: Runs every in-container action, one at a time per member, even across operator
#: restarts: a command whose exec was cut off (the operator killed, a timeout)
#: keeps running in the container, and a retry must not run beside it. The lock
#: is a directory in the member's /tmp (gone with the container); one left by a
#: process that died is taken over. While a live holder keeps it for more than
#: about 3 s, the wrapper exits :data:`BUSY_EXIT` saying so on stderr: the
#: action is reported as not run (retried later), not as failed.
#:
#: It also feeds the command exactly N bytes of stdin and then end-of-file: exec
#: servers need not pass on the client's half-close of stdin (KWOK's does not,
#: so a command reading stdin to its end would wait forever). ``head -c`` where
#: it exists, POSIX ``dd`` otherwise; ``-`` means no stdin.
ACTION_WRAPPER = """n=$1; shift
lock="${KD_GUEST_ROOT:-}/tmp/.kd-action-lock"
mkdir -p "${lock%/*}" 2>/dev/null
tries=0
until mkdir "$lock" 2>/dev/null; do
  holder=$(cat "$lock/pid" 2>/dev/null)
  if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then rm -rf "$lock"; continue; fi
  tries=$((tries + 1))
  if [ "$tries" -gt 3 ]; then echo "kd-action: busy: $holder" >&2; exit 75; fi
  sleep 1
done
echo $$ >"$lock/pid"
if [ "$n" = - ]; then "$@"
else { head -c "$n" 2>/dev/null || dd bs=1 count="$n" 2>/dev/null; } | "$@"
fi
code=$?
rm -rf "$lock"
exit $code"""
#: The wrapper's exit status when another action still runs in the member.
BUSY_EXIT = 75
_BUSY_MARK = "kd-action: busy"


def guarded(command: tuple[str, ...], stdin: str | None) -> tuple[str, ...]:
    """``command`` under :data:`ACTION_WRAPPER`: alone in its member, reading just ``stdin``."""
    length = "-" if stdin is None else str(len(stdin.encode()))
    return ("sh", "-c", ACTION_WRAPPER, "kd-action", length, *command)


class Planner(Protocol):
    """The two functions of :mod:`kubedirector_core.plan` the runtime calls."""

    def plan_cluster(self, observed: Observed, hooks: Hooks) -> Plan:
        """Compute the plan for one cluster."""
        ...

    def record_outcome(
        self, status: Mapping[str, Any], outcome: ActionOutcome, now: datetime
    ) -> Mapping[str, Any]:
        """Fold an action's outcome into the status."""
        ...

    def outcome_event(self, outcome: ActionOutcome) -> PlannedEvent | None:
        """The Event a person should see about an action's outcome, if any."""
        ...


class _PlanModule:
    """The real planner, imported when first used."""

    def plan_cluster(self, observed: Observed, hooks: Hooks) -> Plan:
        from kubedirector_core import plan

        result: Plan = plan.plan_cluster(observed, hooks)
        return result

    def record_outcome(
        self, status: Mapping[str, Any], outcome: ActionOutcome, now: datetime
    ) -> Mapping[str, Any]:
        from kubedirector_core import plan

        result: Mapping[str, Any] = plan.record_outcome(status, outcome, now)
        return result

    def outcome_event(self, outcome: ActionOutcome) -> PlannedEvent | None:
        from kubedirector_core import plan

        return plan.outcome_event(outcome)


def default_planner() -> Planner:
    """The planner of :mod:`kubedirector_core.plan`."""
    return _PlanModule()


@dataclass(frozen=True)
class RuntimeSettings:
    """How the runtime acts; the defaults suit a production operator."""

    #: In-container commands running at once, over all clusters.
    action_concurrency: int = 8
    #: The longest any in-container command may run (caps the planner's own timeout).
    action_timeout: float = 600.0
    #: Retry a cluster whose reconcile failed after this many seconds (doubling to 300).
    error_backoff: float = 5.0
    #: Reconcile again after this many seconds when an action could not be run at all.
    action_retry: float = 10.0
    #: Reported as the Events' reporting instance.
    instance: str = field(default_factory=socket.gethostname)


@dataclass
class Outcome:
    """What a reconcile hands back to the event loop."""

    #: Objects as the server returned them after the operator's writes, for the caches.
    written: list[Manifest] = field(default_factory=list)
    requeue_after: float | None = None
    #: The cluster is gone for good: drop its queue entries.
    forget: bool = False
    failed: bool = False
    #: Connected ConfigMaps the reconcile read because the caches lacked their content.
    read_configmaps: list[Manifest] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _strip_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def _tail(stdout: str, stderr: str) -> str:
    text = stdout + (
        ("\n" if stdout and not stdout.endswith("\n") else "") + stderr if stderr else ""
    )
    return text[-OUTPUT_TAIL:]


class Reconciler:
    """Carries out reconciles; shared by the worker threads."""

    def __init__(
        self,
        api: KubeApi,
        hooks: Hooks,
        *,
        planner: Planner | None = None,
        settings: RuntimeSettings | None = None,
        exec_client: Callable[[], client.ApiClient] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.api = api
        self.hooks = hooks
        self.planner = planner or default_planner()
        self.settings = settings or RuntimeSettings()
        self.clock = clock
        self.memory = AppliedMemory()
        self.metrics = MetricsReader(api, hooks)
        self._status_memory: dict[tuple[str, str], tuple[str, str]] = {}
        self._status_lock = threading.Lock()
        self._actions = ThreadPoolExecutor(
            max_workers=self.settings.action_concurrency, thread_name_prefix="kd-action"
        )
        self._exec_client_factory = exec_client
        self._exec_clients: list[client.ApiClient] = []
        self._local = threading.local()
        #: Called with every in-container action's outcome (the operator's metrics).
        self.action_observers: list[Callable[[ActionOutcome], None]] = []

    def close(self) -> None:
        """Stop the action threads and close the connections they opened."""
        self._actions.shutdown(wait=False, cancel_futures=True)
        for api_client in self._exec_clients:
            api_client.close()  # type: ignore[no-untyped-call]

    # -- the reconcile ------------------------------------------------------------

    def reconcile(self, snapshot: Snapshot) -> Outcome:
        """Reconcile the cluster of ``snapshot``; never raises for the cluster's own faults."""
        body = snapshot.cluster
        if body is None:
            return Outcome(forget=True)
        outcome = Outcome()
        metadata = body.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            return self._remove(snapshot, body)
        if FINALIZER not in (metadata.get("finalizers") or []):
            body = self._add_finalizer(body)
            outcome.written.append(body)
        status = dict(body.get("status") or {})
        now = self.clock()
        generation = metadata.get("generation")
        try:
            cluster = KubeDirectorCluster.from_wire(body)
        except pydantic.ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            condition = _condition(
                "ReconcileFailed", "InvalidCluster", f"{where}: {first['msg']}", now, generation
            )
            return self._report(snapshot, body, status, condition, outcome, retry=None)
        cluster_app = _app(snapshot.app)
        # Only the autoscaled roles due for evaluation are read (at most once per interval).
        scaling_metrics = self.metrics.read(
            cluster,
            cluster_app,
            snapshot.pods,
            now,
            domain_base=snapshot.settings.svc_domain_base,
        )
        observed = Observed(
            cluster=cluster,
            app=cluster_app,
            now=now,
            pods=snapshot.pods,
            children=snapshot.children,
            nodes=snapshot.nodes,
            connected_clusters=_connected(snapshot.connected_clusters),
            connected_apps={
                name: app
                for name, body in snapshot.connected_apps.items()
                if (app := _app(body)) is not None
            },
            nodes_known=True,
            # Gang gates are lifted by _ungate; nodes carry what their pods use (nodeusage).
            ungate_supported=True,
            connected_config_versions=snapshot.connected_config_versions,
            storage_classes=snapshot.storage_classes,
            default_storage_class=snapshot.default_storage_class,
            metrics=scaling_metrics.metrics,
            metric_errors=scaling_metrics.errors,
            settings=snapshot.settings,
        )
        pinned = pinned_claims(self.api, snapshot.key[0], observed, snapshot.children)
        if pinned:
            observed = dataclasses.replace(observed, pinned_claims=pinned)
        try:
            observed = self._with_configmaps(snapshot, observed, outcome)
            plan = self.planner.plan_cluster(observed, self.hooks)
            if plan.needs_connected_secrets:
                # Only now, when configmeta is written, are the connected Secrets read.
                connections = cluster.spec.connections
                names = (connections.secrets or []) if connections else []
                secrets = read_secrets(self.api, snapshot.key[0], names)
                observed = dataclasses.replace(observed, connected_secrets=secrets)
                plan = self.planner.plan_cluster(observed, self.hooks)
        except ConnectionReadError as error:
            condition = _condition(
                "ReconcileFailed", "ConnectionReadFailed", str(error), now, generation
            )
            return self._report(
                snapshot, body, status, condition, outcome, retry=self.settings.error_backoff
            )
        except PluginError as error:
            failure = PluginFailure.from_error(error)
            condition = failure.condition(now=now, observed_generation=generation)
            condition["reason"] = failure.EVENT_REASON
            return self._report(snapshot, body, status, condition, outcome, retry=60.0)
        return self._act(snapshot, body, observed, plan, outcome)

    def _with_configmaps(
        self, snapshot: Snapshot, observed: Observed, outcome: Outcome
    ) -> Observed:
        """``observed`` with the connected ConfigMaps' content; reads those not cached."""
        uncached = [
            key.partition("/")[2]
            for key in snapshot.connected_config_versions
            if key.startswith("ConfigMap/")
            and key.partition("/")[2] not in snapshot.connected_configmaps
        ]
        if not uncached and not snapshot.connected_configmaps:
            return observed
        read = read_configmaps(self.api, snapshot.key[0], uncached) if uncached else []
        outcome.read_configmaps.extend(read)
        return dataclasses.replace(
            observed,
            connected_configmaps=connected_configmaps(snapshot.connected_configmaps, read),
        )

    def _act(
        self,
        snapshot: Snapshot,
        body: Manifest,
        observed: Observed,
        plan: Plan,
        outcome: Outcome,
    ) -> Outcome:
        done = _Done(children=dict(snapshot.children))
        failures = self._apply(snapshot, plan, done, outcome)
        status: Mapping[str, Any] = _without_runtime_conditions(plan.status)
        events = list(plan.events)
        ran = self._run_and_record(snapshot, plan, done, outcome, status, events)
        final = plan
        passes = 1
        # Settle: what the next reconcile would make of these outcomes (member
        # configured, roll-up, notifications queued) goes into this status write.
        while ran is not None and ran.outcomes and not failures and passes < MAX_PASSES:
            passes += 1
            status = ran.status
            settled = self._settle(observed, status, done, last=passes == MAX_PASSES)
            if settled is None:
                break
            final = settled
            status = _without_runtime_conditions(settled.status)
            events += [event for event in settled.events if event not in events]
            ran = self._run_and_record(snapshot, settled, done, outcome, status, events)
        if ran is not None:
            status = ran.status
        now = self.clock()
        if failures:
            message = "; ".join(failures)[:1024]
            condition = _condition(
                "ApplyFailed", "ApplyFailed", message, now, body["metadata"].get("generation")
            )
            if not has_condition(body.get("status"), condition):
                events.append(PlannedEvent("Warning", "ApplyFailed", message))
            status = with_condition(status, condition)
            outcome.requeue_after = self.settings.error_backoff
        self._write_status(snapshot, body, status, outcome)
        self._post_events(body, events)
        if final.requeue_after is not None:
            outcome.requeue_after = min(
                outcome.requeue_after or final.requeue_after, final.requeue_after
            )
        return outcome

    def _apply(self, snapshot: Snapshot, plan: Plan, done: _Done, outcome: Outcome) -> list[str]:
        """Carry out the plan's writes (objects, deletions, pods, claims); return the failures."""
        namespace = snapshot.key[0]
        failures: list[str] = []
        for manifest in plan.objects:
            ref = ref_of(manifest, namespace)
            if self.memory.is_converged(ref, manifest, snapshot.children.get(ref)):
                continue
            try:
                returned = self.api.apply(manifest, ref.namespace)
            except (ApiError, KeyError) as error:
                failures.append(f"{ref.kind} {ref.name}: {error}")
                continue
            self.memory.record(ref, manifest, returned)
            done.children[ref] = returned
            outcome.written.append(returned)
        for ref in plan.deletions:
            done.deleted.add(ref)
            live = snapshot.children.get(ref)
            if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
                continue
            try:
                self.api.delete(ref)
            except ApiError as error:
                failures.append(f"deleting {ref.kind} {ref.name}: {error}")
            self.memory.forget(ref)
        done.ungated.update(plan.ungate)
        failures += self._ungate(snapshot, plan.ungate)
        done.claims.update(deletion.uid for deletion in plan.claim_deletions)
        claim_failures = self._delete_claims(snapshot, plan.claim_deletions)
        failures += claim_failures.values()
        done.pods.update(deletion.uid for deletion in plan.pod_deletions)
        # A pod whose claim could not be deleted stays: its new pod would reuse the claim.
        failures += self._delete_pods(
            snapshot, tuple(d for d in plan.pod_deletions if d.pod not in claim_failures)
        )
        return failures

    def _run_and_record(
        self,
        snapshot: Snapshot,
        plan: Plan,
        done: _Done,
        outcome: Outcome,
        status: Mapping[str, Any],
        events: list[PlannedEvent],
    ) -> _Ran | None:
        """Run the plan's actions and fold their outcomes into ``status`` and ``events``."""
        if not plan.actions:
            return None
        done.actions.update(_action_id(action) for action in plan.actions)
        outcomes = self._run_actions(snapshot, plan.actions)
        now = self.clock()
        for action_outcome in outcomes:
            for observe in self.action_observers:
                observe(action_outcome)
            status = self.planner.record_outcome(status, action_outcome, now)
            event = self.planner.outcome_event(action_outcome)
            if event is not None:
                events.append(event)
            if action_outcome.exit_code is None and not action_outcome.timed_out:
                # Not run at all (exec refused, member busy): the status may not
                # change, so no watch event will bring the cluster back; come back.
                outcome.requeue_after = self.settings.action_retry
        return _Ran(status, len(outcomes))

    def _settle(
        self, observed: Observed, status: Mapping[str, Any], done: _Done, *, last: bool
    ) -> Plan | None:
        """Plan again on the same snapshot with ``status``; None when that plan must wait.

        The plan is taken when it only changes the status and Events, and runs
        only actions this reconcile has not planned yet (none at all when it is
        the ``last`` pass). A plan that would write objects, delete, ungate or
        repeat an action is left to the next reconcile, which sees its inputs
        fresh; so is one whose planning fails, and one that writes configmeta
        while the connected Secrets were not read.
        """
        try:
            cluster = observed.cluster.model_copy(
                update={"status": ClusterStatus.from_wire(status)}
            )
            again = dataclasses.replace(observed, cluster=cluster, now=self.clock())
            plan = self.planner.plan_cluster(again, self.hooks)
        except (PluginError, pydantic.ValidationError) as error:
            log.info("not settling %s: %s", observed.cluster.metadata.name, error)
            return None
        if self._writes_pending(observed, plan, done):
            return None
        if plan.needs_connected_secrets and observed.connected_secrets is None:
            # It would write configmeta without the connected Secrets, read only on demand.
            return None
        if plan.actions and (last or any(_action_id(a) in done.actions for a in plan.actions)):
            return None
        return plan

    def _writes_pending(self, observed: Observed, plan: Plan, done: _Done) -> bool:
        """True when ``plan`` asks for a write this reconcile has not made."""
        namespace = observed.cluster.metadata.namespace or ""
        for manifest in plan.objects:
            ref = ref_of(manifest, namespace)
            if not self.memory.is_converged(ref, manifest, done.children.get(ref)):
                return True
        return (
            any(ref not in done.deleted for ref in plan.deletions)
            or any(name not in done.ungated for name in plan.ungate)
            or any(deletion.uid not in done.claims for deletion in plan.claim_deletions)
            or any(deletion.uid not in done.pods for deletion in plan.pod_deletions)
        )

    # -- failures the runtime reports itself --------------------------------------

    def _report(
        self,
        snapshot: Snapshot,
        body: Manifest,
        status: dict[str, Any],
        condition: dict[str, Any],
        outcome: Outcome,
        *,
        retry: float | None,
    ) -> Outcome:
        events = []
        if not has_condition(status, condition):
            events.append(PlannedEvent("Warning", condition["reason"], condition["message"]))
        self._write_status(snapshot, body, with_condition(status, condition), outcome)
        self._post_events(body, events)
        outcome.requeue_after = retry
        outcome.failed = retry is not None
        return outcome

    # -- pods ---------------------------------------------------------------------

    def _ungate(self, snapshot: Snapshot, pods: tuple[str, ...]) -> list[str]:
        failures = []
        for name in pods:
            try:
                live = self.api.request("GET", POD.object_path(name, snapshot.key[0]))
                gates = (live.get("spec") or {}).get("schedulingGates") or []
                remaining = [g for g in gates if g.get("name") != GANG_GATE]
                if len(remaining) != len(gates):
                    self.api.request(
                        "PATCH",
                        POD.object_path(name, snapshot.key[0]),
                        body=[
                            {
                                "op": "test",
                                "path": "/metadata/uid",
                                "value": live["metadata"]["uid"],
                            },
                            {"op": "replace", "path": "/spec/schedulingGates", "value": remaining},
                        ],
                        content_type=JSON_PATCH,
                    )
            except ApiError as error:
                if error.status != 404:
                    failures.append(f"ungating Pod {name}: {error}")
        return failures

    def _delete_claims(
        self, snapshot: Snapshot, deletions: tuple[ClaimDeletion, ...]
    ) -> dict[str, str]:
        """Delete each claim (uid precondition); return the failures by the claim's pod."""
        failures: dict[str, str] = {}
        for deletion in deletions:
            log.info("deleting claim %s/%s: %s", snapshot.key[0], deletion.claim, deletion.reason)
            try:
                self.api.request(
                    "DELETE",
                    PVC.object_path(deletion.claim, snapshot.key[0]),
                    body={
                        "kind": "DeleteOptions",
                        "apiVersion": "v1",
                        "preconditions": {"uid": deletion.uid},
                    },
                    retry_conflicts=False,
                )
            except ApiError as error:
                if error.status not in (404, 409):
                    failures[deletion.pod] = (
                        f"deleting PersistentVolumeClaim {deletion.claim}: {error}"
                    )
        return failures

    def _delete_pods(self, snapshot: Snapshot, deletions: tuple[PodDeletion, ...]) -> list[str]:
        failures = []
        for deletion in deletions:
            pod = snapshot.pods.get(deletion.pod)
            if pod is None or pod.uid != deletion.uid or (pod.deleting and not deletion.force):
                continue
            options: dict[str, Any] = {
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "preconditions": {"uid": deletion.uid},
            }
            if deletion.force:
                options["gracePeriodSeconds"] = 0
            log.info("deleting pod %s/%s: %s", snapshot.key[0], deletion.pod, deletion.reason)
            try:
                self.api.request(
                    "DELETE",
                    POD.object_path(deletion.pod, snapshot.key[0]),
                    body=options,
                    retry_conflicts=False,
                )
            except ApiError as error:
                if error.status not in (404, 409):
                    failures.append(f"deleting Pod {deletion.pod}: {error}")
        return failures

    # -- in-container actions -----------------------------------------------------

    def _run_actions(
        self, snapshot: Snapshot, actions: tuple[MemberAction, ...]
    ) -> list[ActionOutcome]:
        by_member: dict[str, list[MemberAction]] = {}
        for action in actions:
            pod = snapshot.pods.get(action.member)
            if pod is None or pod.deleting:
                log.info("skipping %s in %s: the pod is not there", action.kind, action.member)
                continue
            by_member.setdefault(action.member, []).append(action)
        futures = [
            # In a copy of this context: the actions' log lines name the cluster too.
            self._actions.submit(
                contextvars.copy_context().run,
                self._run_in_order,
                snapshot.key[0],
                member_actions,
            )
            for member_actions in by_member.values()
        ]
        done = [outcome for future in futures for outcome in future.result()]
        order = {action.key: index for index, action in enumerate(actions)}
        return sorted(done, key=lambda outcome: order.get(outcome.action.key, 0))

    def _run_in_order(self, namespace: str, actions: list[MemberAction]) -> list[ActionOutcome]:
        outcomes = []
        for action in actions:
            outcome = self._run_action(namespace, action)
            outcomes.append(outcome)
            # A check that has not passed yet is no failure of the member: its other
            # actions still run. Anything else that failed stops the member's list.
            not_yet = action.polls and outcome.exit_code is not None and not outcome.timed_out
            if not outcome.succeeded and not not_yet:
                break
        return outcomes

    def _exec_api(self) -> client.ApiClient:
        # kubernetes.stream swaps the ApiClient's request method while it runs, so
        # each action thread execs through an ApiClient of its own.
        api_client: client.ApiClient | None = getattr(self._local, "api_client", None)
        if api_client is None:
            factory = self._exec_client_factory
            api_client = (
                factory() if factory else client.ApiClient(self.api.api_client.configuration)
            )
            self._local.api_client = api_client
            self._exec_clients.append(api_client)
        return api_client

    def _run_action(self, namespace: str, action: MemberAction) -> ActionOutcome:
        timeout = min(action.timeout_seconds, self.settings.action_timeout)
        log.info("running %s (%s) in %s/%s", action.kind, action.key, namespace, action.member)
        command = guarded(action.command, action.stdin)
        try:
            result = exec_in_pod(
                self._exec_api(),
                namespace,
                action.member,
                command,
                container=action.container,
                stdin=action.stdin,
                timeout=timeout,
            )
        except ExecError as error:
            log.warning("%s in %s/%s failed: %s", action.kind, namespace, action.member, error)
            timed_out = "did not finish within" in str(error)
            return ActionOutcome(action, None, "", error=str(error), timed_out=timed_out)
        except Exception as error:  # a broken connection must not take the worker down
            log.exception("%s in %s/%s could not run", action.kind, namespace, action.member)
            return ActionOutcome(action, None, "", error=f"exec failed: {error}")
        if result.exit_code == BUSY_EXIT and result.stderr.startswith(_BUSY_MARK):
            log.info(
                "%s in %s/%s waits: an earlier action still runs",
                action.kind,
                namespace,
                action.member,
            )
            return ActionOutcome(
                action, None, "", error=f"{action.member} still runs an earlier action"
            )
        return ActionOutcome(action, result.exit_code, _tail(result.stdout, result.stderr))

    # -- writes -------------------------------------------------------------------

    def _write_status(
        self, snapshot: Snapshot, body: Manifest, status: Mapping[str, Any], outcome: Outcome
    ) -> None:
        desired = _strip_none(dict(status))
        current = body.get("status") or {}
        remembered = self._status_memory.get(snapshot.key)
        if remembered is not None and remembered == (fingerprint(desired), fingerprint(current)):
            return  # the server already stores what it made of this status
        patch = merge_patch(current, desired)
        if patch is None:
            return
        namespace, name = snapshot.key
        try:
            returned = self.api.merge_patch(
                KUBEDIRECTOR_CLUSTER, name, namespace, {"status": patch}, subresource="status"
            )
        except ApiError as error:
            if error.status != 404:
                log.error("could not write the status of %s/%s: %s", namespace, name, error)
                outcome.requeue_after = self.settings.error_backoff
            return
        self._status_memory[snapshot.key] = (
            fingerprint(desired),
            fingerprint(returned.get("status") or {}),
        )
        outcome.written.append(returned)

    def _post_events(self, body: Manifest, events: list[PlannedEvent]) -> None:
        metadata = body["metadata"]
        for event in events:
            stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
            try:
                self.api.create(
                    EVENT,
                    metadata["namespace"],
                    {
                        "apiVersion": "v1",
                        "kind": "Event",
                        "metadata": {"generateName": f"{metadata['name'][:200]}."},
                        "involvedObject": {
                            "apiVersion": body["apiVersion"],
                            "kind": body["kind"],
                            "name": metadata["name"],
                            "namespace": metadata["namespace"],
                            "uid": metadata.get("uid"),
                        },
                        "type": event.type,
                        "reason": event.reason,
                        "message": event.message[:1024],
                        "source": {"component": COMPONENT},
                        "reportingComponent": COMPONENT,
                        "reportingInstance": self.settings.instance,
                        "firstTimestamp": stamp,
                        "lastTimestamp": stamp,
                        "count": 1,
                    },
                )
            except ApiError as error:
                log.warning(
                    "could not post Event %s for %s: %s", event.reason, metadata["name"], error
                )

    def _add_finalizer(self, body: Manifest) -> Manifest:
        metadata = body["metadata"]
        finalizers = [*(metadata.get("finalizers") or []), FINALIZER]
        returned: Manifest = self.api.merge_patch(
            KUBEDIRECTOR_CLUSTER,
            metadata["name"],
            metadata["namespace"],
            {
                "metadata": {
                    "finalizers": finalizers,
                    "resourceVersion": metadata["resourceVersion"],
                }
            },
            retry_conflicts=False,
        )
        return returned

    # -- deletion -----------------------------------------------------------------

    def _remove(self, snapshot: Snapshot, body: Manifest) -> Outcome:
        metadata = body["metadata"]
        finalizers = metadata.get("finalizers") or []
        if FINALIZER not in finalizers:
            return Outcome()
        namespace, name = snapshot.key
        selector = f"{CLUSTER_LABEL}={label_value(name)}"
        remaining = 0
        for kind in CHILD_KINDS:
            for child in self.api.list(kind, namespace, label_selector=selector):
                remaining += 1
                child_meta = child.get("metadata") or {}
                if child_meta.get("deletionTimestamp"):
                    continue
                ref = ref_of(
                    {**child, "apiVersion": kind.api_version, "kind": kind.kind}, namespace
                )
                self.api.delete(ref)
                self.memory.forget(ref)
        if remaining:
            log.info("%s/%s: waiting for %d children to go", namespace, name, remaining)
            return Outcome(requeue_after=1.0)
        self.api.merge_patch(
            KUBEDIRECTOR_CLUSTER,
            name,
            namespace,
            {
                "metadata": {
                    "finalizers": [f for f in finalizers if f != FINALIZER],
                    "resourceVersion": metadata["resourceVersion"],
                }
            },
            retry_conflicts=False,
        )
        self._status_memory.pop(snapshot.key, None)
        log.info("%s/%s: every child removed", namespace, name)
        return Outcome(forget=True)


@dataclass
class _Done:
    """What one reconcile already did, so that a settling plan does not do it again."""

    #: The cluster's children as the server returned them after this reconcile's applies.
    children: dict[ObjectRef, Manifest]
    deleted: set[ObjectRef] = field(default_factory=set)
    ungated: set[str] = field(default_factory=set)
    #: The uids of the claims and pods deleted.
    claims: set[str] = field(default_factory=set)
    pods: set[str] = field(default_factory=set)
    #: Every action planned, run or not (see :func:`_action_id`).
    actions: set[tuple[str, str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class _Ran:
    """The status with a pass's action outcomes folded in, and how many there were."""

    status: Mapping[str, Any]
    outcomes: int


def _action_id(action: MemberAction) -> tuple[str, str, str]:
    return (action.member, action.kind.value, action.key)


def _condition(
    kind: str, reason: str, message: str, now: datetime, generation: int | None
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def _without_runtime_conditions(status: Mapping[str, Any]) -> dict[str, Any]:
    conditions = status.get("conditions")
    if not conditions:
        return dict(status)
    kept = [c for c in conditions if c.get("type") not in RUNTIME_CONDITIONS]
    return {**status, "conditions": kept}


def _app(body: Manifest | None) -> KubeDirectorApp | None:
    if body is None:
        return None
    try:
        return KubeDirectorApp.from_wire(body)
    except pydantic.ValidationError:
        log.warning("app %s does not validate", (body.get("metadata") or {}).get("name"))
        return None


def _connected(bodies: Mapping[str, Manifest]) -> dict[str, KubeDirectorCluster]:
    connected = {}
    for name, body in bodies.items():
        try:
            connected[name] = KubeDirectorCluster.from_wire(body)
        except pydantic.ValidationError:
            continue
    return connected
