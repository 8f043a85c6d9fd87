"""What the pods bound to each node request, from one cluster-wide pod watch.

Gang admission (:mod:`kubedirector_core.plan.gang`) asks whether a gang fits
in what each node has allocatable *and not used*; ``used`` must count every
pod on the node, in every namespace, not only KubeDirector's. This module
keeps that sum, cheaply:

* One LIST (paged) and then one WATCH of ``/api/v1/pods`` in all namespaces,
  with the field selector :data:`FIELD_SELECTOR`, so the API server sends only
  pods bound to a node (``spec.nodeName`` set) that have not terminated (phase
  neither ``Succeeded`` nor ``Failed``). A pod that stops matching (it
  finished, or was deleted) arrives as a ``DELETED`` event.
* Per pod only a :class:`PodUsage` is kept (its node and its effective
  requests as integer milli-units, shared between pods asking the same), never
  the pod object; per node the running totals. About 0.2 KB per pod: some
  0.6 MB for 3,000 pods.
* :class:`PodUsageWatch` runs the watch in one daemon thread, started once per
  operator (:meth:`PodUsageWatch.start` is idempotent), re-LISTing when the
  server says its resource version is too old (410) and backing off on errors.
  Each batch of changes is handed to a callback with the nodes whose usage
  changed and whether any of it was freed.

RBAC: the operator's identity needs ``list`` and ``watch`` on ``pods`` cluster
wide (a ClusterRole), even when it reconciles only some namespaces.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubedirector_core.runtime.cache import pod_requests
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.listwatch import ListWatch

PODS_PATH: Final = "/api/v1/pods"
#: Bound pods that have not terminated: the pods a scheduler counts on a node.
FIELD_SELECTOR: Final = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"
TERMINATED_PHASES: Final = frozenset({"Succeeded", "Failed"})
#: Requests are summed as integers of this many units per unit (milli-cpu, milli-bytes...).
SCALE: Final = 1000
#: Pods per page of the LIST.
PAGE_SIZE: Final = 500

#: Nodes whose usage changed -> True when some of it was freed there.
UsageChanges = Mapping[str, bool]


@dataclass(frozen=True, slots=True)
class PodUsage:
    """One bound, non-terminated pod: its node and its requests (``(resource, milli)``)."""

    node: str
    requests: tuple[tuple[str, int], ...]


def pod_usage(body: Mapping[str, Any]) -> PodUsage | None:
    """What a pod takes on its node; ``None`` when it is not bound or has terminated."""
    spec = body.get("spec") or {}
    node = spec.get("nodeName")
    phase = (body.get("status") or {}).get("phase")
    if not node or phase in TERMINATED_PHASES:
        return None
    requests = tuple(
        sorted(
            (name, round(amount * SCALE)) for name, amount in pod_requests(spec).items() if amount
        )
    )
    return PodUsage(sys.intern(str(node)), requests)


def pod_key(body: Mapping[str, Any]) -> str:
    """The key a pod is kept under: its uid (its namespace/name when it has none)."""
    metadata = body.get("metadata") or {}
    uid = metadata.get("uid")
    return str(uid) if uid else f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


class NodeUsage:
    """The requests of the pods bound to each node, summed; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pods: dict[str, PodUsage] = {}
        self._totals: dict[str, dict[str, int]] = {}
        #: One tuple per distinct request vector, shared by every pod asking it.
        self._shapes: dict[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def apply(self, event: str | None, body: Mapping[str, Any]) -> dict[str, bool]:
        """Fold one watch event in; return the nodes whose usage changed (True: freed)."""
        key = pod_key(body)
        usage = None if event == "DELETED" else pod_usage(body)
        with self._lock:
            return self._set(key, usage)

    def replace_all(self, bodies: list[Mapping[str, Any]]) -> dict[str, bool]:
        """Start over from a complete LIST; return the nodes whose usage changed."""
        listed = {pod_key(body): pod_usage(body) for body in bodies}
        changes: dict[str, bool] = {}
        with self._lock:
            for key in [k for k in self._pods if k not in listed]:
                _merge(changes, self._set(key, None))
            for key, usage in listed.items():
                _merge(changes, self._set(key, usage))
        return changes

    def used_on(self, node: str) -> dict[str, float]:
        """What the pods on ``node`` request: cpu in cores, memory in bytes, others as counts."""
        with self._lock:
            totals = self._totals.get(node) or {}
            return {name: amount / SCALE for name, amount in totals.items() if amount}

    def nodes(self) -> list[str]:
        """Every node with at least one counted pod."""
        with self._lock:
            return list(self._totals)

    def _set(self, key: str, usage: PodUsage | None) -> dict[str, bool]:
        old = self._pods.get(key)
        if usage is not None:
            usage = PodUsage(usage.node, self._shapes.setdefault(usage.requests, usage.requests))
        if old == usage:
            return {}
        changes: dict[str, bool] = {}
        if old is not None:
            del self._pods[key]
            self._add(old, -1)
            changes[old.node] = bool(old.requests)
        if usage is not None:
            self._pods[key] = usage
            self._add(usage, +1)
            if old is not None and old.node == usage.node:
                changes[usage.node] = _less(usage.requests, old.requests)
            else:
                changes[usage.node] = False
        return changes

    def _add(self, usage: PodUsage, sign: int) -> None:
        totals = self._totals.setdefault(usage.node, {})
        for name, amount in usage.requests:
            left = totals.get(name, 0) + sign * amount
            if left:
                totals[name] = left
            else:
                totals.pop(name, None)
        if not totals:
            self._totals.pop(usage.node, None)


def _less(new: tuple[tuple[str, int], ...], old: tuple[tuple[str, int], ...]) -> bool:
    """True when ``new`` requests less of some resource than ``old``."""
    wanted = dict(new)
    return any(wanted.get(name, 0) < amount for name, amount in old)


def _merge(into: dict[str, bool], changes: Mapping[str, bool]) -> None:
    for node, freed in changes.items():
        into[node] = into.get(node, False) or freed


class PodUsageWatch(ListWatch):
    """Keeps a :class:`NodeUsage` current from a LIST and then a WATCH of every bound pod.

    ``on_change`` is called from the watch thread after each batch of events
    with :data:`UsageChanges`; it must hand them to the event loop itself.
    """

    def __init__(
        self,
        api: KubeApi,
        usage: NodeUsage,
        on_change: Callable[[UsageChanges], None],
        *,
        timeout_seconds: float = 300.0,
        backoff_seconds: float = 1.0,
    ) -> None:
        super().__init__(
            api,
            PODS_PATH,
            ("fieldSelector", FIELD_SELECTOR),
            what="pod usage",
            forbidden_hint="grant the operator list and watch on pods in every namespace "
            "(a ClusterRole); until then gang admission counts no other pods",
            thread_name="kd-node-usage",
            timeout_seconds=timeout_seconds,
            backoff_seconds=backoff_seconds,
        )
        self.usage = usage
        self.on_change = on_change

    def prime(self) -> UsageChanges:
        """LIST every bound pod (in pages) and start the sums over; return what changed."""
        bodies: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            query = [("fieldSelector", FIELD_SELECTOR), ("limit", str(PAGE_SIZE))]
            if token:
                query.append(("continue", token))
            page = self.api.request("GET", PODS_PATH, query=query)
            # Keep only what pod_usage reads: the page's other fields are dropped at once.
            bodies += [_slim(item) for item in page.get("items") or []]
            metadata = page.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                self.resume_from(metadata.get("resourceVersion"))
                break
        return self.usage.replace_all(bodies)

    def relist(self) -> None:
        """LIST again (after a 410 or an error) and report what changed."""
        self.on_change(self.prime())

    def handle(self, kind: str, body: Mapping[str, Any]) -> None:
        """Fold one pod event into the sums; report the nodes it changed."""
        changes = self.usage.apply(kind, body)
        if changes:
            self.on_change(changes)


def _slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a pod :func:`pod_usage` and :func:`pod_key` read."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    return {
        "metadata": {k: metadata[k] for k in ("uid", "namespace", "name") if k in metadata},
        "spec": {
            "nodeName": spec.get("nodeName"),
            "containers": [{"resources": c.get("resources")} for c in spec.get("containers") or []],
            "initContainers": [
                {"resources": c.get("resources")} for c in spec.get("initContainers") or []
            ],
        },
        "status": {"phase": (body.get("status") or {}).get("phase")},
    }


__all__ = [
    "FIELD_SELECTOR",
    "NodeUsage",
    "PodUsage",
    "PodUsageWatch",
    "UsageChanges",
    "pod_key",
    "pod_usage",
]
