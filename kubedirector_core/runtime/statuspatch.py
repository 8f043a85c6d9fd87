"""The status write: a JSON merge patch from the stored status to the desired one.

The status is written at most once per reconcile and only when it changed;
:func:`merge_patch` returns ``None`` when the two are equal, so "changed" is
decided by one function. Keys the desired status no longer has are sent as
``null`` (RFC 7386 removes them); lists are replaced whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_patch(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch turning ``old`` into ``new``, or ``None`` when they are equal."""
    old = old or {}
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif isinstance(value, Mapping) and isinstance(old[key], Mapping):
            nested = merge_patch(old[key], value)
            if nested is not None:
                patch[key] = nested
        elif value != old[key]:
            patch[key] = value
    return patch or None


def with_condition(status: Mapping[str, Any], condition: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` with ``condition`` in place of any condition of the same type.

    A condition whose status, reason and message are unchanged keeps its
    ``lastTransitionTime``, so writing it again changes nothing.
    """
    conditions = [dict(c) for c in status.get("conditions") or []]
    for index, existing in enumerate(conditions):
        if existing.get("type") == condition.get("type"):
            same = all(existing.get(k) == condition.get(k) for k in ("status", "reason", "message"))
            conditions[index] = existing if same else dict(condition)
            break
    else:
        conditions.append(dict(condition))
    return {**status, "conditions": conditions}


def has_condition(status: Mapping[str, Any] | None, condition: Mapping[str, Any]) -> bool:
    """True when ``status`` already holds ``condition`` (same type, status, reason, message)."""
    for existing in (status or {}).get("conditions") or []:
        if existing.get("type") == condition.get("type"):
            return all(existing.get(k) == condition.get(k) for k in ("status", "reason", "message"))
    return False
