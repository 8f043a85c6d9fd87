"""Member readiness: a plugin's action that must be done before a set-up member counts.

Once a joining member's setup succeeded, ``kd_member_readiness`` may name an
:class:`~kubedirector_core.hooktypes.ExecAction` whose completion makes the
member ready (for example: the NameNode lists the new DataNode). Until then
the member stays ``creating``: it does not join, so the cluster stays
``creating``/``updating`` and other members are not told about it.

The action runs as any plugin action (``ActionKind.PLUGIN``, the guest's
``exec`` mode) and is recorded done in the status's ``doneActions`` with
``readinessOf``, so an operator restart does not run a finished check again.
What the member waits for is in ``stateDetail.readiness`` (key, plugin, when
it started) and ``stateDetail.waitingFor`` (for people).

A failure (an ``EXITS_ZERO`` command that exits non-zero, a run that times
out, a ``CHECK_SUCCEEDS`` check that has not passed ``timeout_seconds`` after
the action started) is recorded in ``stateDetail.readiness.error`` and
``configErrorDetail``: the member goes to ``config error``. The hook is asked
again on every later reconcile; the same key is not run again in the same
setup, a new key (or no action) is taken as the plugin's new answer.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from kubedirector_core.hooktypes import DoneWhen, ExecAction
from kubedirector_core.plan import members as rec
from kubedirector_core.plan.model import ActionOutcome, PlannedEvent

#: ``stateDetail`` fields this module owns.
RECORD: Final = "readiness"
WAITING_FOR: Final = "waitingFor"
#: Characters of a failed action's last output line kept in its error.
OUTPUT_LIMIT: Final = 200


class Verdict(StrEnum):
    """Where a set-up member stands with its readiness."""

    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


def record_of(member: rec.MemberRecord) -> dict[str, Any] | None:
    """The member's readiness record (``stateDetail.readiness``), or None."""
    record = (member.get("stateDetail") or {}).get(RECORD)
    return record if isinstance(record, dict) else None


def start(member: rec.MemberRecord, action: ExecAction, plugin: str, now: str) -> dict[str, Any]:
    """The member's record for ``action``: kept when it is the same key, else a fresh one."""
    record = record_of(member)
    if record is None or record.get("key") != action.key:
        record = {"key": action.key, "plugin": plugin, "startedAt": now}
        rec.detail(member)[RECORD] = record
    return record


def expired(record: dict[str, Any], action: ExecAction, now: datetime) -> bool:
    """True when a check has not passed ``timeout_seconds`` after the action started."""
    if action.done_when is not DoneWhen.CHECK_SUCCEEDS or not record.get("startedAt"):
        return False
    started = datetime.strptime(str(record["startedAt"]), "%Y-%m-%dT%H:%M:%SZ")
    elapsed = now - started.replace(tzinfo=UTC)
    return elapsed.total_seconds() >= action.timeout_seconds


def waiting_for(action: ExecAction, plugin: str, member: str) -> str:
    """What the member waits for, for its ``stateDetail.waitingFor``."""
    what = f" ({action.description})" if action.description else ""
    where = "" if action.member == member else f" in {action.member}"
    if action.done_when is DoneWhen.CHECK_SUCCEEDS:
        how = f"polled every {action.poll_seconds:g} s for up to {action.timeout_seconds:g} s"
    else:
        how = f"up to {action.timeout_seconds:g} s"
    return f"readiness action {action.key!r} of plugin {plugin}{what}{where}, {how}"


def fail(member: rec.MemberRecord, record: dict[str, Any], why: str) -> None:
    """Record that the member's readiness action failed: ``why`` for people."""
    message = f"readiness action {record.get('key')!r} of plugin {record.get('plugin')} {why}"
    record["error"] = message
    detail = rec.detail(member)
    detail["configErrorDetail"] = message
    detail.pop(WAITING_FOR, None)


def mark_ready(member: rec.MemberRecord, *, done: bool) -> PlannedEvent | None:
    """Clear what the member waited for; the Event to post when it had waited.

    ``done``: its readiness action is done (else the plugin no longer asks for one).
    """
    detail = member.get("stateDetail") or {}
    record = detail.pop(RECORD, None)
    detail.pop(WAITING_FOR, None)
    if not isinstance(record, dict):
        return None
    if member.get("configured"):
        # Set up in its container: a config error left can only be a readiness failure.
        detail.pop("configErrorDetail", None)
    action = f"readiness action {record.get('key')!r} of plugin {record.get('plugin')}"
    why = f"{action} is done" if done else f"{action} is no longer asked for"
    return PlannedEvent("Normal", "MemberReady", f"member {member.get('pod')} is ready: {why}")


def forget(member: rec.MemberRecord) -> None:
    """Drop the member's readiness record (it is being set up again)."""
    detail = member.get("stateDetail") or {}
    detail.pop(RECORD, None)
    detail.pop(WAITING_FOR, None)


def record_failure(status: dict[str, Any], outcome: ActionOutcome) -> None:
    """Fold a readiness action's failed run into the judged member's record.

    A run that could not start changes nothing (it is retried); a check that
    did not pass yet is not a failure (its deadline is the planner's); a
    record for another key (the plugin changed its answer) is left alone.
    """
    action = outcome.action
    if action.readiness_of is None or outcome.succeeded:
        return
    if outcome.exit_code is None and not outcome.timed_out:
        return
    if action.polls and not outcome.timed_out:
        return
    member = rec.find_member(status, action.readiness_of)
    record = record_of(member) if member is not None else None
    if member is None or record is None or record.get("key") != action.plugin_key:
        return
    if outcome.timed_out:
        why = f"timed out after {action.timeout_seconds:g} s"
    else:
        why = f"exited with status {outcome.exit_code}"
    last = _last_line(outcome.output_tail)
    fail(member, record, f"{why} in {action.member}" + (f": {last}" if last else ""))


def guest_key(key: str, container: str) -> str:
    """The guest's done key of a readiness action: a new container is judged afresh."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)[:80]
    digest = hashlib.sha256(f"{key}\0{container}".encode()).hexdigest()[:8]
    return f"ready-{safe.lstrip('.')}-{digest}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:OUTPUT_LIMIT] if lines else ""
