"""Configuration changes of a running cluster, for ``kd_on_config_change``.

A *configuration change* is a change of the spec fields that a running
cluster may change without resizing a role and that the core carries out in
place by telling the members. That is ``spec.connections`` (clusters,
ConfigMaps, Secrets), which members learn of with ``--reconnect``. Nothing
else qualifies: a role with members may change only its member count and
autoscale settings (admission refuses the rest: scale it to 0 first), so its
environment and file injections never change in place, and the other
top-level fields (``serviceType``, ``defaultSecret``,
``nodeDownGraceSeconds``) are not told to members.

State kept in the cluster's status, so that an operator restart neither
repeats nor forgets a change:

``reconciledConfig``
    the tracked fields as last reconciled, and the spec generation they were
    taken from; ``old`` is rebuilt from it. It follows the spec on every
    reconcile that finds no change under way (a write only when the
    generation moved, which changes ``observedGeneration`` anyway).
``configChange``
    while a change is carried out: the digest of the values changed to and
    the keys of the actions the hook asked for; each done action is in
    ``doneActions`` with ``hook: kd_on_config_change``.

This module is the pure bookkeeping; ``plan/cluster`` calls the hook.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from kubedirector_core.api import KubeDirectorCluster
from kubedirector_core.plan import done
from kubedirector_core.plan import members as rec

#: The spec fields whose change is a configuration change, by wire name.
TRACKED_FIELDS: Final = ("connections",)
RECORD: Final = "reconciledConfig"
CHANGE: Final = "configChange"
HOOK: Final = done.CONFIG_CHANGE_HOOK


def current_values(cluster: KubeDirectorCluster) -> dict[str, Any]:
    """The tracked fields of ``cluster``'s spec in wire form; unset ones are left out."""
    connections = cluster.spec.connections
    return {} if connections is None else {"connections": connections.to_wire()}


def recorded_values(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tracked fields as last reconciled, or None when nothing was recorded yet."""
    record = status.get(RECORD)
    if not isinstance(record, Mapping):
        return None
    return {name: record[name] for name in TRACKED_FIELDS if record.get(name) is not None}


def digest(values: Mapping[str, Any]) -> str:
    """Identifies tracked values; empty lists and objects count as unset."""
    text = json.dumps(_without_empty(dict(values)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The tracked fields whose values differ, as ``spec.<name>``."""
    return [
        f"spec.{name}"
        for name in TRACKED_FIELDS
        if digest({name: before.get(name)}) != digest({name: after.get(name)})
    ]


def settle(status: dict[str, Any], generation: int | None, values: Mapping[str, Any]) -> None:
    """Take ``values`` as reconciled: record them, drop any change under way and its records."""
    record: dict[str, Any] = {} if generation is None else {"generation": generation}
    record.update(values)
    status[RECORD] = record
    status.pop(CHANGE, None)
    done.forget_config_change(status)


def recorded_generation(status: Mapping[str, Any]) -> int | None:
    """The spec generation the reconciled values were taken from."""
    record = status.get(RECORD)
    generation = record.get("generation") if isinstance(record, Mapping) else None
    return generation if isinstance(generation, int) else None


def old_cluster(
    cluster: KubeDirectorCluster, values: Mapping[str, Any], generation: int | None
) -> KubeDirectorCluster:
    """``cluster`` with the tracked fields (and generation) as last reconciled.

    Everything else is the cluster as it is now: only the tracked fields can
    have changed without a resize, and the member counts are not kept.
    """
    wire = cluster.to_wire()
    spec = {k: v for k, v in wire["spec"].items() if k not in TRACKED_FIELDS}
    spec.update(values)
    wire["spec"] = spec
    if generation is not None:
        wire["metadata"] = {**wire["metadata"], "generation": generation}
    return KubeDirectorCluster.from_wire(wire)


def reconnect_pending(status: dict[str, Any]) -> bool:
    """True while a member still has a ``--reconnect`` to run."""
    return any(
        (entry.get("arguments") or [""])[0] == "--reconnect"
        for _, member in rec.all_members(status)
        for entry in rec.queue(member)
    )


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {})}
    return value
