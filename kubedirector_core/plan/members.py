"""Reading and editing the member records of a cluster's status (wire-form dicts).

The planner works on a deep copy of ``status`` as written on the wire, so
that fields it does not manage round-trip unchanged; these helpers keep the
dict handling in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubedirector_core.plan import names

MemberRecord = dict[str, Any]
RoleRecord = dict[str, Any]


def role_records(status: dict[str, Any]) -> list[RoleRecord]:
    """The ``roles`` list of ``status`` (created when missing)."""
    roles: list[RoleRecord] = status.setdefault("roles", [])
    return roles


def find_role(status: dict[str, Any], role_id: str) -> RoleRecord | None:
    """The role record with id ``role_id``, or None."""
    return next((role for role in role_records(status) if role.get("id") == role_id), None)


def members_of(role: RoleRecord) -> list[MemberRecord]:
    """The ``members`` list of a role record (created when missing)."""
    members: list[MemberRecord] = role.setdefault("members", [])
    return members


def all_members(status: dict[str, Any]) -> Iterator[tuple[RoleRecord, MemberRecord]]:
    """Every member of every role, with its role record."""
    for role in role_records(status):
        for member in role.get("members") or []:
            yield role, member


def find_member(status: dict[str, Any], pod: str) -> MemberRecord | None:
    """The member whose pod is ``pod``, or None."""
    return next((m for _, m in all_members(status) if m.get("pod") == pod), None)


def detail(member: MemberRecord) -> dict[str, Any]:
    """The member's ``stateDetail`` (created when missing)."""
    state_detail: dict[str, Any] = member.setdefault("stateDetail", {})
    return state_detail


def queue(member: MemberRecord) -> list[dict[str, Any]]:
    """The member's pending notifications (``stateDetail.pendingNotifyCmds``)."""
    pending = (member.get("stateDetail") or {}).get("pendingNotifyCmds") or []
    assert isinstance(pending, list)
    return pending


def set_queue(member: MemberRecord, pending: list[dict[str, Any]]) -> None:
    """Replace the member's pending notifications; an empty queue is removed."""
    state_detail = detail(member)
    if pending:
        state_detail["pendingNotifyCmds"] = pending
    else:
        state_detail.pop("pendingNotifyCmds", None)


def sort_members(role: RoleRecord) -> None:
    """Members by ordinal, so the status reads in pod order."""
    role["members"] = sorted(members_of(role), key=lambda m: names.ordinal_of(str(m.get("pod"))))


def prune(member: MemberRecord) -> None:
    """Drop an empty ``stateDetail``, so that an unchanged member compares equal."""
    if not member.get("stateDetail"):
        member.pop("stateDetail", None)
