"""Plugins' in-container actions that finished: the status's ``doneActions``.

A resize a plugin holds with ``ResizeDecision.wait(actions...)`` goes ahead
once every action is done. "Done" is recorded here, in the cluster's status,
when an action's outcome succeeded (for ``DoneWhen.CHECK_SUCCEEDS`` the guest
exits with its check's status, so success means the check passed), so it
survives an operator restart. The records of a role are dropped once its
resize is finished, so a later resize starts with none.
"""

from __future__ import annotations

from typing import Any

from kubedirector_core.plan.model import ActionKind, ActionOutcome

FIELD = "doneActions"


def done_keys(status: dict[str, Any], role: str) -> frozenset[str]:
    """The plugins' keys of ``role``'s done resize actions."""
    return frozenset(
        str(record["key"])
        for record in status.get(FIELD) or []
        if record.get("role") == role and record.get("key")
    )


def record_done(status: dict[str, Any], outcome: ActionOutcome, timestamp: str) -> bool:
    """Record a succeeded plugin action in ``status``; True when something was added."""
    action = outcome.action
    if action.kind is not ActionKind.PLUGIN or not outcome.succeeded or not action.plugin_key:
        return False
    records: list[dict[str, Any]] = status.setdefault(FIELD, [])
    if any(r.get("key") == action.plugin_key and r.get("role") == action.role for r in records):
        return False
    record: dict[str, Any] = {"key": action.plugin_key, "member": action.member}
    if action.role is not None:
        record["role"] = action.role
    record["finishedAt"] = timestamp
    records.append(record)
    return True


def forget_role(status: dict[str, Any], role: str) -> None:
    """Drop ``role``'s records (its resize is finished); an empty list is removed."""
    records = [r for r in status.get(FIELD) or [] if r.get("role") != role]
    if records:
        status[FIELD] = records
    else:
        status.pop(FIELD, None)
