"""The planner's inputs and outputs: plain, immutable data.

The reconcile of one cluster is ``observe -> plan -> act``. ``runtime/``
builds an :class:`Observed` from its watch-fed caches, calls
:func:`kubedirector_core.plan.plan_cluster` (pure: no I/O, no clock, no
randomness), and carries out the returned :class:`Plan`: it applies
``objects`` with server-side apply, deletes ``deletions``, runs ``actions``
in the members' containers, feeds each outcome back through
:func:`kubedirector_core.plan.record_outcome`, writes ``status`` once if it
changed, and emits ``events``.

Progress that must survive an operator restart lives in the cluster's status
(which members are configured, the per-member notification queue); an action
carries an idempotency ``key`` that the in-container side records once done,
so running an action twice (the operator killed after running it but before
writing status) has the effect of running it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.hooktypes import GANG_SCHEDULING_GATE
from kubedirector_core.plan.settings import OperatorSettings

Manifest = dict[str, Any]


@dataclass(frozen=True)
class ObjectRef:
    """Identifies one Kubernetes object the operator owns."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class ObservedPod:
    """What the planner needs to know about one member's pod."""

    name: str
    role_id: str
    uid: str
    node_name: str | None
    phase: str | None
    ready: bool
    #: Identity of the running container: its containerID, or ``<pod uid>/<restartCount>``
    #: where the runtime reports none (KWOK), so a restart is still noticed.
    container_id: str | None
    ip: str | None
    deleting: bool = False
    #: The pod still carries the gang scheduling gate (:data:`GANG_GATE`) in its
    #: ``spec.schedulingGates``.
    gated: bool = False
    #: The pod's effective requests (the sum of its containers' ``resources.requests``, a
    #: request defaulting to its limit as Kubernetes does, or the largest init container's
    #: when larger): cpu in cores, memory in bytes, extended resources such as
    #: ``nvidia.com/gpu`` as counts. Empty: the planner uses the role's pod template.
    requests: Mapping[str, float] = field(default_factory=dict)


#: The scheduling gate the pods of a gang are created with (see ``kd_gang_policy``).
GANG_GATE = GANG_SCHEDULING_GATE

#: The taint the node lifecycle controller puts on a node that stopped reporting.
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


@dataclass(frozen=True)
class Taint:
    """A node taint (``effect`` is NoSchedule, PreferNoSchedule or NoExecute)."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True)
class ObservedNode:
    """A node's health and capacity as the planner sees it.

    ``ready`` is its Ready condition being ``True``; ``ready_unknown`` is that
    condition being ``Unknown`` (the node stopped reporting); ``ready_since``
    is the condition's ``lastTransitionTime``; ``unreachable`` is the
    :data:`UNREACHABLE_TAINT` being on it. Quantities are numbers: cpu in
    cores, memory in bytes, extended resources (``nvidia.com/gpu``) as counts.
    ``used`` is the sum of the requests of every pod bound to the node that
    has not terminated, in any namespace.
    """

    name: str
    ready: bool
    unreachable: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    ready_unknown: bool = False
    ready_since: datetime | None = None
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()
    allocatable: Mapping[str, float] = field(default_factory=dict)
    used: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PinnedClaim:
    """A member's volume claim bound to a volume that only one node can reach.

    ``node`` is the only node the claim's PersistentVolume's required
    ``nodeAffinity`` allows (a local volume): the data cannot follow ``pod``
    to another node.
    """

    pod: str
    uid: str
    volume: str
    node: str


@dataclass(frozen=True)
class ConnectedObject:
    """A connected ConfigMap or Secret, as configmeta's ``connections`` shows it.

    ``data`` is the object's ``data`` as the API serves it (``None`` when it has
    none): plain text for a ConfigMap, base64 for a Secret. It is left out of
    ``repr`` so that a Secret's values never reach a log line or a traceback.
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] | None = None
    data: Mapping[str, str] | None = field(default=None, repr=False)

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> ConnectedObject:
        """Read a ConfigMap or Secret (wire form); ``binaryData`` is ignored, as by the original."""
        metadata = body.get("metadata") or {}
        annotations = metadata.get("annotations")
        data = body.get("data")
        return cls(
            name=str(metadata.get("name") or ""),
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(annotations) if annotations is not None else None,
            data=dict(data) if data is not None else None,
        )


@dataclass(frozen=True)
class Observed:
    """Everything the planner may look at for one reconcile of one cluster.

    ``children`` holds the cluster's owned objects as observed (wire dicts
    keyed by :class:`ObjectRef`); ``connected_*`` hold the connected
    clusters, the ``resourceVersion`` of connected ConfigMaps and Secrets, and
    their content for configmeta (Secrets only when the runtime read them).
    """

    cluster: KubeDirectorCluster
    app: KubeDirectorApp | None
    now: datetime
    pods: Mapping[str, ObservedPod] = field(default_factory=dict)
    children: Mapping[ObjectRef, Manifest] = field(default_factory=dict)
    nodes: Mapping[str, ObservedNode] = field(default_factory=dict)
    connected_clusters: Mapping[str, KubeDirectorCluster] = field(default_factory=dict)
    connected_config_versions: Mapping[str, str] = field(default_factory=dict)
    #: The apps of the connected clusters, by connected cluster name (their configmeta
    #: needs them); a connected cluster whose app is missing is left out, as the original does.
    connected_apps: Mapping[str, KubeDirectorApp] = field(default_factory=dict)
    #: The connected ConfigMaps that exist, by name (from the watch cache).
    connected_configmaps: Mapping[str, ConnectedObject] = field(default_factory=dict)
    #: The connected Secrets that exist, by name; ``None`` when the runtime has not read
    #: them (it reads them only when :attr:`Plan.needs_connected_secrets` asks).
    connected_secrets: Mapping[str, ConnectedObject] | None = None
    #: Storage classes that exist, and the default one (for validation).
    storage_classes: frozenset[str] = frozenset()
    default_storage_class: str | None = None
    #: True when ``nodes`` holds every Node of the cluster (a synced watch cache): only
    #: then does a member's node missing from ``nodes`` mean the node was deleted.
    nodes_known: bool = False
    #: True when the runtime reports :attr:`ObservedPod.gated` and carries out
    #: :attr:`Plan.ungate`. Without it no pod is gated (a gang policy is then ignored,
    #: rather than leaving pods gated for ever).
    ungate_supported: bool = False
    #: Autoscale metrics by role id, then by metric name (role-wide values such as
    #: ``cpu_utilization``), from the role's ``autoscale.metricSource``; a role or
    #: metric that could not be read is absent.
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: Why a role's metrics could not be read, by role id, for people (e.g. ``GET
    #: http://127.0.0.1:9/api/v1/query: connection refused``); such a role keeps its size.
    metric_errors: Mapping[str, str] = field(default_factory=dict)
    #: Claims of members on a gone or out-of-service node whose volume is pinned to that
    #: node (a node-local PersistentVolume), by claim name; see ``plan/nodedown``. The
    #: runtime reads a claim's volume only for such members, and leaves a claim out when
    #: it could not (e.g. not allowed): such a claim is kept.
    pinned_claims: Mapping[str, PinnedClaim] = field(default_factory=dict)
    #: The operator's KubeDirectorConfig (``kd-global-config``); built-in values without one.
    settings: OperatorSettings = field(default_factory=OperatorSettings)


class ActionKind(StrEnum):
    """Why an in-container action runs."""

    CONFIGURE = "configure"
    ADDNODES = "addnodes"
    DELNODES = "delnodes"
    RECONNECT = "reconnect"
    PLUGIN = "plugin"


@dataclass(frozen=True)
class MemberAction:
    """A command to run in one member's container.

    ``stdin`` carries data the command needs (configmeta, generated files),
    so nothing sensitive appears on a command line. ``key`` is unique per
    intended effect; the command records it in the guest once it succeeded
    and skips its work when the key is already recorded.
    """

    key: str
    member: str
    container: str
    kind: ActionKind
    command: tuple[str, ...]
    stdin: str | None = None
    timeout_seconds: float = 300.0
    #: The plugin that asked for it (``kind == PLUGIN``), for status and Events.
    plugin: str | None = None
    #: The container (``ObservedPod.container_id``) the action was planned for; a
    #: configure outcome records it as the container the member was configured in.
    container_id: str | None = None
    #: The plugin's own key (``ExecAction.key``) of a ``PLUGIN`` action; a successful
    #: outcome records it in the status's ``doneActions``.
    plugin_key: str | None = None
    #: The role whose resize asked for a ``PLUGIN`` action (for a readiness action: the
    #: role of the member it judges).
    role: str | None = None
    #: The hook whose answer a ``PLUGIN`` action comes from when it is not a role's
    #: ``kd_on_resize``: ``kd_on_config_change`` (see ``plan/configchange``).
    hook: str | None = None
    #: The member whose readiness this ``PLUGIN`` action tells (``kd_member_readiness``);
    #: ``None`` for a resize's action. It may run in another member.
    readiness_of: str | None = None
    #: True when the exit status is a check's (``DoneWhen.CHECK_SUCCEEDS``): a status
    #: other than 0 means "not yet", not a failure.
    polls: bool = False


@dataclass(frozen=True)
class ActionOutcome:
    """What running a :class:`MemberAction` produced."""

    action: MemberAction
    exit_code: int | None
    output_tail: str
    #: Set when the command could not be run at all (exec refused, timed out).
    error: str | None = None
    #: True when the command was stopped after ``timeout_seconds``: for a configure
    #: action this is a failure (``config error``), not a reason to retry at once.
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        """True when the command ran and exited 0."""
        return self.error is None and self.exit_code == 0


@dataclass(frozen=True)
class PlannedEvent:
    """A Kubernetes Event a person should see."""

    type: str  # "Normal" or "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class PodDeletion:
    """A member's pod to delete so that its StatefulSet re-creates it.

    Delete only the pod with this ``uid`` (a delete precondition), so that a
    stale plan never deletes the pod that replaced it. ``force`` (grace period
    0) is set only for a pod on a failed node that is gone, carries the
    ``node.kubernetes.io/out-of-service`` taint, or whose node-down policy
    opted in (``NodeDownDecision.force``); see ``plan/nodedown.may_force``.
    """

    pod: str
    uid: str
    force: bool = False
    reason: str = ""


@dataclass(frozen=True)
class ClaimDeletion:
    """A member's volume claim to delete so that its StatefulSet creates a fresh one.

    Planned only with the deletion of ``pod`` on a gone or out-of-service
    node, for a claim whose volume cannot follow the pod (see
    ``plan/nodedown``). Delete only the claim with this ``uid`` (a delete
    precondition), and before the pod: the StatefulSet then creates a new
    claim for the new pod instead of reusing this one.
    """

    claim: str
    uid: str
    pod: str
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """What should exist and what should happen next, for one cluster."""

    objects: tuple[Manifest, ...] = ()
    deletions: tuple[ObjectRef, ...] = ()
    actions: tuple[MemberAction, ...] = ()
    #: The complete desired ``status`` in wire form (camelCase).
    status: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[PlannedEvent, ...] = ()
    #: Ask to be reconciled again after this many seconds even if nothing changes
    #: (e.g. waiting on an in-container action); ``None`` means only on change.
    requeue_after: float | None = None
    #: Pods whose :data:`GANG_GATE` to remove now, all together (their gang fits).
    ungate: tuple[str, ...] = ()
    #: Pods to delete (node-down replacement, role or cluster restart).
    pod_deletions: tuple[PodDeletion, ...] = ()
    #: Volume claims to delete before ``pod_deletions`` (a member whose volume cannot follow).
    claim_deletions: tuple[ClaimDeletion, ...] = ()
    #: This plan writes configmeta but was made without the connected Secrets
    #: (:attr:`Observed.connected_secrets` is ``None``): read them and plan again.
    needs_connected_secrets: bool = False
