"""Decide whether a desired object must be applied: write nothing when nothing changed.

Server-side apply of an unchanged object is harmless but still a write
request. The operator therefore applies a desired manifest only when the
live object does not already hold every field the manifest sets:

* :func:`contains` compares the manifest with the live object, field by field,
  tolerating what the API server does to values (``"1"`` vs ``1``,
  ``"1000m"`` vs ``"1"``, empty values it drops, fields it defaults);
* :class:`AppliedMemory` remembers, for each object the operator applied, what
  the server made of it. A live object whose fields still project to what
  the server returned is converged even where the server rewrote a value in
  a form :func:`contains` cannot recognise; any later change of those fields
  (drift) or of the manifest is re-applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from kubedirector_core.api.quantity import parse_quantity
from kubedirector_core.plan.model import Manifest, ObjectRef

#: Fields the server owns; a manifest never sets them meaningfully.
_IGNORED_METADATA = frozenset(
    {"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"}
)


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        return parse_quantity(value)
    except (ValueError, ArithmeticError):
        return None


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    if str(desired) == str(live):
        return True
    wanted, actual = _quantity(desired), _quantity(live)
    return wanted is not None and wanted == actual


def _is_empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def contains(live: Any, desired: Any) -> bool:
    """True when every field ``desired`` sets is present with the same value in ``live``.

    Maps are compared key by key (extra live keys are defaults the server
    added); lists element by element, in order, with the same length;
    scalars equal as values, as strings, or as Kubernetes quantities. A
    desired empty value (``{}``, ``[]``, ``null``) matches an absent one.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return _is_empty(desired) and _is_empty(live)
        return all(
            (_is_empty(value) and _is_empty(live.get(key)))
            or (key in live and contains(live[key], value))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list):
            return _is_empty(desired) and _is_empty(live)
        return len(live) == len(desired) and all(
            contains(actual, wanted) for actual, wanted in zip(live, desired, strict=True)
        )
    return _same_scalar(desired, live)


def project(live: Any, desired: Any) -> Any:
    """The part of ``live`` at the paths ``desired`` sets (the rest of ``live`` dropped)."""
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        return {key: project(live[key], value) for key, value in desired.items() if key in live}
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [project(actual, wanted) for actual, wanted in zip(live, desired, strict=True)]
    return live


def _comparable(manifest: Manifest) -> Manifest:
    metadata = {
        key: value
        for key, value in (manifest.get("metadata") or {}).items()
        if key not in _IGNORED_METADATA
    }
    return {**manifest, "metadata": metadata}


def fingerprint(value: Any) -> str:
    """A stable digest of a JSON-like value."""
    return hashlib.blake2b(
        orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


class AppliedMemory:
    """What the server made of each manifest this process applied.

    Kept in memory only: after a restart every object is judged by
    :func:`contains` alone, and those it cannot judge are applied once more.
    """

    def __init__(self) -> None:
        self._applied: dict[ObjectRef, tuple[str, str]] = {}

    def is_converged(self, ref: ObjectRef, desired: Manifest, live: Manifest | None) -> bool:
        """True when ``live`` already holds ``desired``: applying it would change nothing."""
        if live is None or (live.get("metadata") or {}).get("deletionTimestamp"):
            return False
        wanted = _comparable(desired)
        remembered = self._applied.get(ref)
        if remembered is not None and remembered[0] == fingerprint(wanted):
            return remembered[1] == fingerprint(project(live, wanted))
        return contains(live, wanted)

    def record(self, ref: ObjectRef, desired: Manifest, returned: Manifest) -> None:
        """Remember that applying ``desired`` made the server store ``returned``."""
        wanted = _comparable(desired)
        self._applied[ref] = (fingerprint(wanted), fingerprint(project(returned, wanted)))

    def forget(self, ref: ObjectRef) -> None:
        """Drop what is remembered about ``ref`` (it was deleted)."""
        self._applied.pop(ref, None)
