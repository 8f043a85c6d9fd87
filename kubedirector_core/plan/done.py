"""Plugins' in-container actions that finished: the status's ``doneActions``.

A resize a plugin holds with ``ResizeDecision.wait(actions...)`` goes ahead
once every action is done; a configuration change (``kd_on_config_change``)
is finished once every action it asked for is done; and a member whose
``kd_member_readiness`` asked for an action is ready once that action is
done. "Done" is recorded here, in the cluster's status, when an action's
outcome succeeded (for ``DoneWhen.CHECK_SUCCEEDS`` the guest exits with its
check's status, so success means the check passed), so it survives an
operator restart.

A record names the role whose resize asked for it; or (``hook``) the hook
``kd_on_config_change``; or (``readinessOf``) the member whose readiness it
proved. The three never mix. The records of a role are dropped once its
resize is finished (with its members' readiness records: they are all
ready then), those of a configuration change once the change is, so a later
one starts with none; a member's readiness records are dropped when it is
set up again, so a new container is checked afresh.
"""

from __future__ import annotations

from typing import Any, Final

from kubedirector_core.plan.model import ActionKind, ActionOutcome

FIELD = "doneActions"
#: The ``hook`` of the records of a configuration change's actions.
CONFIG_CHANGE_HOOK: Final = "kd_on_config_change"


def done_keys(status: dict[str, Any], role: str) -> frozenset[str]:
    """The plugins' keys of ``role``'s done resize actions."""
    return frozenset(
        str(record["key"])
        for record in status.get(FIELD) or []
        if record.get("role") == role
        and record.get("key")
        and not record.get("hook")
        and not record.get("readinessOf")
    )


def config_change_keys(status: dict[str, Any]) -> frozenset[str]:
    """The plugins' keys of the done actions of the configuration change under way."""
    return frozenset(
        str(record["key"])
        for record in status.get(FIELD) or []
        if record.get("hook") == CONFIG_CHANGE_HOOK and record.get("key")
    )


def readiness_keys(status: dict[str, Any], member: str) -> frozenset[str]:
    """The plugins' keys of done readiness actions that judged ``member``."""
    return frozenset(
        str(record["key"])
        for record in status.get(FIELD) or []
        if record.get("readinessOf") == member and record.get("key")
    )


def record_done(status: dict[str, Any], outcome: ActionOutcome, timestamp: str) -> bool:
    """Record a succeeded plugin action in ``status``; True when something was added."""
    action = outcome.action
    if action.kind is not ActionKind.PLUGIN or not outcome.succeeded or not action.plugin_key:
        return False
    records: list[dict[str, Any]] = status.setdefault(FIELD, [])
    if any(
        r.get("key") == action.plugin_key
        and r.get("role") == action.role
        and r.get("hook") == action.hook
        and r.get("readinessOf") == action.readiness_of
        for r in records
    ):
        return False
    record: dict[str, Any] = {"key": action.plugin_key, "member": action.member}
    if action.role is not None:
        record["role"] = action.role
    if action.hook is not None:
        record["hook"] = action.hook
    if action.readiness_of is not None:
        record["readinessOf"] = action.readiness_of
    record["finishedAt"] = timestamp
    records.append(record)
    return True


def forget_role(status: dict[str, Any], role: str) -> None:
    """Drop ``role``'s records (its resize is finished); an empty list is removed."""
    _keep(status, [r for r in status.get(FIELD) or [] if r.get("role") != role or r.get("hook")])


def forget_config_change(status: dict[str, Any]) -> None:
    """Drop the records of the configuration change (it is finished or superseded)."""
    _keep(status, [r for r in status.get(FIELD) or [] if r.get("hook") != CONFIG_CHANGE_HOOK])


def forget_readiness(status: dict[str, Any], member: str) -> None:
    """Drop the readiness records of ``member`` (set up again: it is judged afresh)."""
    _keep(status, [r for r in status.get(FIELD) or [] if r.get("readinessOf") != member])


def _keep(status: dict[str, Any], records: list[dict[str, Any]]) -> None:
    if records:
        status[FIELD] = records
    else:
        status.pop(FIELD, None)
