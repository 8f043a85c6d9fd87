"""The cluster's status: roll-up, conditions, events on change, and recording outcomes.

:func:`finish_status` completes the status the planner built: the member
state roll-up and cluster ``state`` (as the original), ``membersReady``
(``ready/asked``) and the conditions ``Valid``, ``Ready``, ``Progressing``,
``Degraded`` (and ``PluginFailed`` while a plugin fails), each with
``observedGeneration``. A condition's ``lastTransitionTime`` changes only
when its status does, so an unchanged cluster gets an identical status.

:func:`record_outcome` folds the result of one in-container action into a
status; the runtime calls it after running each action and writes the
result, so that progress survives an operator restart.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from kubedirector_core.plan import done, names, readiness, states
from kubedirector_core.plan import members as rec
from kubedirector_core.plan.model import (
    ActionKind,
    ActionOutcome,
    MemberAction,
    Observed,
    PlannedEvent,
)
from kubedirector_core.plugins import PluginFailure
from kubedirector_core.problems import Problem

#: Characters of a script's output kept in the member's status.
OUTPUT_TAIL_LIMIT: Final = 2048
#: Problems listed in the Valid condition's message.
MAX_LISTED_PROBLEMS: Final = 5
CONDITION_TYPES: Final = ("Valid", "Ready", "Progressing", "Degraded", PluginFailure.CONDITION_TYPE)


def timestamp(now: datetime) -> str:
    """``now`` in RFC 3339 with second precision, as Kubernetes writes times."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# Finishing a planned status


def finish_status(
    observed: Observed,
    previous: Mapping[str, Any],
    status: dict[str, Any],
    problems: Sequence[Problem],
    work: Mapping[str, Any],
) -> dict[str, Any]:
    """Complete ``status`` with roll-up, state, ``membersReady`` and conditions."""
    cluster = observed.cluster
    generation = cluster.metadata.generation
    errors = [problem for problem in problems if problem.is_error]
    valid = observed.app is not None and not errors
    members = [member for _, member in rec.all_members(status)]
    ready = [m for m in members if _is_ready(m, observed)]
    asked = _asked_members(observed)
    rollup = _rollup(members, observed)
    status["memberStateRollup"] = rollup
    status["membersReady"] = f"{len(ready)}/{asked}"
    if generation is not None:
        status["observedGeneration"] = generation
        status["specGenerationToProcess"] = generation
    if valid:
        status["state"] = _cluster_state(previous, members)
    else:
        status.setdefault("state", states.CLUSTER_CREATING)
    failures: Sequence[PluginFailure] = work.get("failures") or ()
    holds: Mapping[str, tuple[str, str]] = work.get("resize_holds") or {}
    wanted = [
        _valid_condition(observed, errors),
        _ready_condition(valid, len(ready), asked, members),
        _progressing_condition(valid, members, holds, bool(work.get("actions"))),
        _degraded_condition(valid, rollup, failures, holds, observed, status),
    ]
    wanted += [dict(condition) for condition in work.get("conditions") or ()]
    if failures:
        wanted.append(
            PluginFailure(
                plugin=failures[0].plugin,
                hook=failures[0].hook,
                message="; ".join(f.message for f in failures),
            ).condition(now=observed.now, observed_generation=generation)
        )
    status["conditions"] = _merge_conditions(previous, wanted, observed.now, generation)
    return status


def _asked_members(observed: Observed) -> int:
    app = observed.app
    total = 0
    for role in observed.cluster.spec.roles:
        if role.members is not None:
            total += role.members
        elif app is not None and (app_role := app.role(role.id)) is not None:
            total += app_role.min_members
    return total


def _is_ready(member: Mapping[str, Any], observed: Observed) -> bool:
    pod = observed.pods.get(str(member.get("pod")))
    return (
        member.get("state") == states.CONFIGURED
        and pod is not None
        and pod.ready
        and not pod.deleting
        and member.get("containerID") == pod.container_id
    )


def _rollup(members: Sequence[Mapping[str, Any]], observed: Observed) -> dict[str, bool]:
    changing = down = initializing = waiting = restarting = errors = unscheduled = False
    for member in members:
        state = member.get("state")
        pod = observed.pods.get(str(member.get("pod")))
        changing |= state in states.JOINING_STATES or state in states.LEAVING_STATES
        errors |= state == states.CONFIG_ERROR
        if state in states.LEAVING_STATES:
            continue
        if pod is None:
            down |= state in (states.CONFIGURED, states.CONFIG_ERROR)
            waiting |= state == states.CREATE_PENDING
            continue
        unscheduled |= pod.node_name is None
        initializing |= pod.phase == "Pending" and pod.node_name is not None
        if state == states.CONFIGURED:
            down |= pod.phase not in ("Running", None) or pod.deleting
            restarting |= pod.phase == "Running" and member.get("containerID") != pod.container_id
    return {
        "membershipChanging": changing,
        "membersDown": down,
        "membersInitializing": initializing,
        "membersWaiting": waiting,
        "membersRestarting": restarting,
        "configErrors": errors,
        "membersNotScheduled": unscheduled,
    }


def _cluster_state(previous: Mapping[str, Any], members: Sequence[Mapping[str, Any]]) -> str:
    changing = any(
        m.get("state") in states.JOINING_STATES or m.get("state") in states.LEAVING_STATES
        for m in members
    )
    if not changing:
        return states.CLUSTER_CONFIGURED
    if previous.get("state") in (states.CLUSTER_CONFIGURED, states.CLUSTER_UPDATING):
        return states.CLUSTER_UPDATING
    return states.CLUSTER_CREATING


def _condition(kind: str, value: bool, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if value else "False",
        "reason": reason,
        "message": message,
    }


def _valid_condition(observed: Observed, errors: Sequence[Problem]) -> dict[str, Any]:
    if observed.app is None:
        return _condition(
            "Valid",
            False,
            "AppMissing",
            f"app {observed.cluster.spec.app!r} is not installed: install it to go on",
        )
    if errors:
        listed = "; ".join(
            f"{p} (plugin {p.source})" if p.source else str(p) for p in errors[:MAX_LISTED_PROBLEMS]
        )
        more = len(errors) - MAX_LISTED_PROBLEMS
        suffix = f" (and {more} more)" if more > 0 else ""
        return _condition("Valid", False, "InvalidSpec", listed + suffix)
    return _condition("Valid", True, "Valid", "the cluster is valid for its app")


def _ready_condition(
    valid: bool, ready: int, asked: int, members: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if not valid:
        return _condition("Ready", False, "InvalidSpec", "the cluster is not valid")
    all_settled = all(m.get("state") == states.CONFIGURED for m in members)
    if ready == asked and all_settled:
        return _condition("Ready", True, "AllMembersReady", f"{ready}/{asked} members ready")
    changing = "" if all_settled else "; members are coming, going or failed"
    return _condition("Ready", False, "MembersNotReady", f"{ready}/{asked} members ready{changing}")


def _progressing_condition(
    valid: bool,
    members: Sequence[Mapping[str, Any]],
    holds: Mapping[str, tuple[str, str]],
    acting: bool,
) -> dict[str, Any]:
    if not valid:
        return _condition("Progressing", False, "InvalidSpec", "fix the spec to go on")
    waiting = sorted((role, why) for role, why in holds.items() if why[0] == "ResizeWaiting")
    if waiting:
        role, (reason, message) = waiting[0]
        return _condition("Progressing", True, reason, f"role {role}: {message}")
    unready = sorted(
        (str(m.get("pod")), str(detail[readiness.WAITING_FOR]))
        for m in members
        if (detail := m.get("stateDetail") or {}).get(readiness.WAITING_FOR)
    )
    if unready:
        more = f" (and {len(unready) - 1} more)" if len(unready) > 1 else ""
        pod, what = unready[0]
        return _condition(
            "Progressing", True, "WaitingForReadiness", f"member {pod} waits for {what}{more}"
        )
    changing = sorted(
        str(m.get("pod"))
        for m in members
        if m.get("state") in states.JOINING_STATES or m.get("state") in states.LEAVING_STATES
    )
    if changing:
        return _condition(
            "Progressing", True, "MembersChanging", f"{len(changing)} member(s) coming or going"
        )
    if any(rec.queue(dict(m)) for m in members):
        return _condition("Progressing", True, "NotifyingMembers", "members are being notified")
    if acting:
        return _condition("Progressing", True, "RunningActions", "in-container actions are running")
    return _condition("Progressing", False, "Stable", "nothing to do")


def _degraded_condition(
    valid: bool,
    rollup: Mapping[str, bool],
    failures: Sequence[PluginFailure],
    holds: Mapping[str, tuple[str, str]],
    observed: Observed,
    status: Mapping[str, Any],
) -> dict[str, Any]:
    if not valid:
        return _condition("Degraded", True, "InvalidSpec", "the cluster is not valid")
    if rollup.get("configErrors"):
        failed = sorted(
            str(m.get("pod"))
            for _, m in rec.all_members(dict(status))
            if m.get("state") == states.CONFIG_ERROR
        )
        return _condition("Degraded", True, "ConfigError", f"setup failed in {', '.join(failed)}")
    if failures:
        return _condition("Degraded", True, "PluginFailed", failures[0].message)
    refused = sorted((role, why) for role, why in holds.items() if why[0] == "ResizeRefused")
    if refused:
        role, (reason, message) = refused[0]
        return _condition("Degraded", True, reason, f"role {role}: {message}")
    missing = _missing_connections(observed)
    missing_configs = _missing_configs(observed)
    if missing or missing_configs:
        parts = []
        if missing:
            parts.append(f"connected cluster(s) not found or without app: {', '.join(missing)}")
        if missing_configs:
            parts.append(f"connected object(s) not found: {', '.join(missing_configs)}")
        return _condition("Degraded", True, "ConnectionMissing", "; ".join(parts))
    if rollup.get("membersDown"):
        return _condition(
            "Degraded", True, "MembersDown", "a configured member's pod is not running"
        )
    return _condition("Degraded", False, "Healthy", "no member needs a look")


def _missing_configs(observed: Observed) -> list[str]:
    """The connected ConfigMaps and Secrets that do not exist (``Kind/name``), sorted."""
    connections = observed.cluster.spec.connections
    if connections is None:
        return []
    wanted = [f"ConfigMap/{name}" for name in connections.configmaps or []]
    wanted += [f"Secret/{name}" for name in connections.secrets or []]
    return sorted(key for key in wanted if key not in observed.connected_config_versions)


def _missing_connections(observed: Observed) -> list[str]:
    connections = observed.cluster.spec.connections
    wanted = connections.clusters or [] if connections else []
    return sorted(
        name
        for name in wanted
        if name not in observed.connected_clusters or name not in observed.connected_apps
    )


def _merge_conditions(
    previous: Mapping[str, Any],
    wanted: Sequence[dict[str, Any]],
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous.get("conditions") or []}
    merged = []
    for condition in wanted:
        old = before.get(condition["type"])
        if old is not None and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old.get("lastTransitionTime") or timestamp(now)
        else:
            condition["lastTransitionTime"] = timestamp(now)
        if generation is not None:
            condition["observedGeneration"] = generation
        merged.append(condition)
    return merged


# ---------------------------------------------------------------------------
# Events on condition changes


#: Degraded reasons whose event comes from another condition (Valid, PluginFailed).
_TOLD_ELSEWHERE: Final = frozenset({"InvalidSpec", "PluginFailed"})
_TRUE_EVENTS: Final = {
    "Ready": ("Normal", "ClusterReady"),
    "Degraded": ("Warning", None),
    PluginFailure.CONDITION_TYPE: ("Warning", PluginFailure.EVENT_REASON),
}
_FALSE_EVENTS: Final = {
    "Valid": ("Warning", None),
}


def condition_events(previous: Mapping[str, Any], status: Mapping[str, Any]) -> list[PlannedEvent]:
    """Events for conditions whose status or reason changed (none when nothing did)."""
    before = {c.get("type"): c for c in previous.get("conditions") or []}
    events = []
    for condition in status.get("conditions") or []:
        kind = condition["type"]
        old = before.get(kind) or {}
        same = (old.get("status"), old.get("reason"), old.get("message")) == (
            condition["status"],
            condition.get("reason"),
            condition.get("message"),
        )
        if same or (kind == "Degraded" and condition.get("reason") in _TOLD_ELSEWHERE):
            continue
        message = str(condition.get("message") or "")
        if condition["status"] == "True" and kind in _TRUE_EVENTS:
            event_type, reason = _TRUE_EVENTS[kind]
            events.append(PlannedEvent(event_type, reason or str(condition.get("reason")), message))
        elif condition["status"] == "False" and kind in _FALSE_EVENTS:
            event_type, reason = _FALSE_EVENTS[kind]
            events.append(PlannedEvent(event_type, reason or str(condition.get("reason")), message))
        elif condition["status"] == "False" and old.get("status") == "True":
            if kind == "Ready":
                if not _only_grew(previous, status):
                    events.append(PlannedEvent("Warning", "ClusterNotReady", message))
            elif kind == "Degraded":
                events.append(PlannedEvent("Normal", "Recovered", message))
        elif kind == "Valid" and condition["status"] == "True" and old.get("status") == "False":
            events.append(PlannedEvent("Normal", "Valid", message))
    return events


def _ready_count(status: Mapping[str, Any]) -> tuple[int, int] | None:
    """``membersReady`` ("ready/asked") as numbers; None when absent or malformed."""
    ready, _, asked = str(status.get("membersReady") or "").partition("/")
    return (int(ready), int(asked)) if ready.isdigit() and asked.isdigit() else None


def _only_grew(previous: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """True when Ready fell only because more members are asked for, none was lost.

    A scale-up makes a ready cluster not ready until its new members join;
    that is a ``Resizing`` the cluster announced, not a warning. A member
    that stopped being ready (failed, gone, restarted) still is one.
    """
    before, now = _ready_count(previous), _ready_count(status)
    return before is not None and now is not None and now[0] >= before[0] and now[1] > before[1]


# ---------------------------------------------------------------------------
# Recording outcomes


def record_outcome(
    status: Mapping[str, Any], outcome: ActionOutcome, now: datetime
) -> dict[str, Any]:
    """``status`` with the result of one member action folded in (a new dict).

    Setup (``configure``): success marks the member configured in the
    action's container; an exit status other than 0 or a timeout records a
    config error for that container and setup key (retried only when either
    changes). A notification that ran (whatever its exit status) leaves the
    member's queue; one that could not be run at all stays queued and is
    retried. A plugin's action that succeeded (for ``DoneWhen.CHECK_SUCCEEDS``:
    its check passed) is recorded by its plugin key in ``doneActions``, which
    ``RoleResize.done_keys`` is built from; one that failed changes nothing
    and is asked for again, except a readiness action's failure, which is
    recorded on the member it judges (see ``plan/readiness``). A member no
    longer in the status is ignored.
    """
    result = copy.deepcopy(dict(status))
    action = outcome.action
    if action.kind is ActionKind.PLUGIN:
        done.record_done(result, outcome, timestamp(now))
        readiness.record_failure(result, outcome)
        return result
    member = rec.find_member(result, action.member)
    if member is None:
        return result
    ran = outcome.exit_code is not None or outcome.timed_out
    if ran:
        member["setupResult"] = _setup_result(outcome, now)
    if action.kind is ActionKind.CONFIGURE:
        _record_setup(member, outcome, ran)
        if outcome.succeeded:
            # Set up (again): its readiness is judged afresh.
            readiness.forget(member)
            done.forget_readiness(result, action.member)
    elif ran:
        remaining = [entry for entry in rec.queue(member) if _entry_key(entry) != action.key]
        rec.set_queue(member, remaining)
    rec.prune(member)
    return result


def _record_setup(member: rec.MemberRecord, outcome: ActionOutcome, ran: bool) -> None:
    action = outcome.action
    detail = rec.detail(member)
    if outcome.succeeded:
        member["configured"] = True
        if action.container_id is not None:
            member["containerID"] = action.container_id
            detail["lastConfiguredContainer"] = action.container_id
        detail["lastSetupKey"] = action.key
        detail.pop("configErrorDetail", None)
        detail.pop("configuringContainer", None)
        if member.get("state") == states.CONFIG_ERROR:
            member["state"] = states.CONFIGURED
        return
    if not ran:
        return
    member["configured"] = False
    detail["lastSetupKey"] = action.key
    if action.container_id is not None:
        detail["configuringContainer"] = action.container_id
    why = (
        f"timed out after {action.timeout_seconds:g} s"
        if outcome.timed_out
        else f"exited with status {outcome.exit_code}"
    )
    detail["configErrorDetail"] = f"setup ({action.key}) {why}"
    if member.get("state") == states.CONFIGURED:
        member["state"] = states.CONFIG_ERROR


def _setup_result(outcome: ActionOutcome, now: datetime) -> dict[str, Any]:
    result: dict[str, Any] = {
        "outputTail": _tail(outcome.output_tail or outcome.error or ""),
        "finishedAt": timestamp(now),
    }
    if outcome.exit_code is not None:
        result["exitStatus"] = outcome.exit_code
    return result


def _tail(text: str) -> str:
    if len(text) <= OUTPUT_TAIL_LIMIT:
        return text
    cut = text[-OUTPUT_TAIL_LIMIT:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if 0 <= newline < len(cut) - 1 else cut


def _entry_key(entry: Mapping[str, Any]) -> str:
    from kubedirector_core.plan.cluster import _legacy_key

    key = entry.get("key")
    return str(key) if key else _legacy_key([str(a) for a in entry.get("arguments") or []])


def outcome_event(outcome: ActionOutcome) -> PlannedEvent | None:
    """The Event a person should see about an action's outcome (None on success)."""
    action = outcome.action
    if outcome.succeeded:
        return None
    if _not_yet(outcome):
        return None  # a readiness check that did not pass yet: it is polled again
    what = _describe(action)
    if outcome.timed_out:
        return PlannedEvent(
            "Warning",
            "ActionTimedOut",
            f"{what} in {action.member} timed out after {action.timeout_seconds:g} s",
        )
    if outcome.exit_code is None:
        return PlannedEvent(
            "Warning", "ActionNotRun", f"{what} could not run in {action.member}: {outcome.error}"
        )
    reason = "SetupFailed" if action.kind is ActionKind.CONFIGURE else "NotifyFailed"
    if action.kind is ActionKind.PLUGIN:
        reason = "PluginActionFailed"
    return PlannedEvent(
        "Warning", reason, f"{what} in {action.member} exited with status {outcome.exit_code}"
    )


def _not_yet(outcome: ActionOutcome) -> bool:
    """True for a readiness check that ran, did not pass, and has time left."""
    action = outcome.action
    ran = outcome.exit_code is not None and not outcome.timed_out
    return action.readiness_of is not None and action.polls and ran


def _describe(action: MemberAction) -> str:
    if action.kind is ActionKind.CONFIGURE:
        return "setup"
    if action.kind is ActionKind.PLUGIN and action.readiness_of is not None:
        return f"readiness action {action.plugin_key!r} of {action.readiness_of}"
    if action.kind is ActionKind.PLUGIN:
        return f"plugin {action.plugin or '?'} action {action.key}"
    return f"--{action.kind.value}"


__all__ = ["finish_status", "names", "outcome_event", "record_outcome"]
