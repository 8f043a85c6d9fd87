"""The typed data that plugin hooks receive and return.

Plugins return data and the core acts on it (see ``docs/hooks.md``): a
decision, files to deliver, or :class:`ExecAction` values that the core runs
inside member containers and tracks in the cluster's status. Every type here
is a frozen dataclass, checked when it is built, so a malformed value fails
inside the plugin that built it and the error names that plugin.

Sequences are stored as tuples so that values compare and render
deterministically.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Self

#: The metric name the core's default autoscale policy reads: the role's mean
#: CPU usage as a fraction of the CPU requested (``0.5`` is half of the request).
CPU_UTILIZATION = "cpu_utilization"

#: The pod scheduling gate the core gives the members of a gang (see
#: :class:`GangPolicy`) until the whole gang fits on the nodes.
GANG_SCHEDULING_GATE = "kubedirector.hpe.com/gang"


def _as_command(value: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a sequence of arguments, not the string {value!r}")
    command = tuple(value)
    if any(not isinstance(arg, str) for arg in command):
        raise TypeError(f"{what} must contain only strings, got {command!r}")
    return command


# ---------------------------------------------------------------------------
# Members and in-container actions
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    """One member of a cluster role as the plan sees it.

    ``name`` is the member's pod name, which is also its identity in the
    cluster's status; ``ordinal`` is its index in the role's StatefulSet;
    ``hostname`` is the fully qualified name other members reach it by;
    ``node_name`` is the Kubernetes node it runs on, ``None`` until scheduled;
    ``state`` is KubeDirector's member state (``create pending``, ``ready``,
    ``config error``, ...); ``node_id`` is the member's number in
    ``configmeta.json`` (``nodeID`` in the status), ``None`` only for a member
    not yet numbered.
    """

    name: str
    role: str
    ordinal: int
    hostname: str
    node_name: str | None = None
    state: str = ""
    node_id: int | None = None


class DoneWhen(StrEnum):
    """What "done" means for an :class:`ExecAction`."""

    #: The command itself exited with status 0.
    EXITS_ZERO = "exits-zero"
    #: The command ran (any status counts as started), then ``check`` exited 0
    #: in one of its polls, run every ``poll_seconds``.
    CHECK_SUCCEEDS = "check-succeeds"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecAction:
    """A command the core runs inside a member's container, and when it is done.

    ``key`` identifies the action across reconciles: the core records done
    actions by key in the cluster's status, so an action is run once even if
    the operator restarts; build it from what the action is for (for example
    ``"decommission:hdfs-dn-3"``). Commands must be safe to run again: a crash
    between running and recording can repeat one.

    A failed command, a failed check after ``timeout_seconds``, or a member that
    disappears is reported in the cluster's status; the hook is asked again on
    the next reconcile and may return a different answer.
    """

    key: str
    member: str
    command: tuple[str, ...]
    done_when: DoneWhen = DoneWhen.EXITS_ZERO
    check: tuple[str, ...] = ()
    container: str | None = None
    timeout_seconds: float = 600.0
    poll_seconds: float = 10.0
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", _as_command(self.command, "command"))
        object.__setattr__(self, "check", _as_command(self.check, "check"))
        if not self.key:
            raise ValueError("an ExecAction needs a non-empty key")
        if not self.member:
            raise ValueError(f"ExecAction {self.key!r} names no member")
        if not self.command:
            raise ValueError(f"ExecAction {self.key!r} has an empty command")
        if (self.done_when is DoneWhen.CHECK_SUCCEEDS) != bool(self.check):
            raise ValueError(
                f"ExecAction {self.key!r}: a check command is required with, "
                "and only with, DoneWhen.CHECK_SUCCEEDS"
            )
        if self.timeout_seconds <= 0 or self.poll_seconds <= 0:
            raise ValueError(f"ExecAction {self.key!r}: timeouts must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class MemberFile:
    """A generated file the core writes into a member before it is configured.

    ``path`` is absolute as the container sees it; the core resolves it under
    the member's guest root. The core rewrites the file when its content
    changes and then notifies the member as for a configuration change.
    """

    path: str
    content: str
    mode: int = 0o644

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or posixpath.normpath(self.path) != self.path:
            raise ValueError(
                f"MemberFile path {self.path!r} must be absolute and normalised "
                "(no '..', no trailing '/')"
            )
        if not 0 <= self.mode <= 0o7777:
            raise ValueError(f"MemberFile {self.path!r}: mode {self.mode:o} is not a file mode")


# ---------------------------------------------------------------------------
# Resize
# ---------------------------------------------------------------------------


class ResizePhase(StrEnum):
    """When ``kd_on_resize`` is asked."""

    #: Before members are removed: the leaving members still run.
    BEFORE_SHRINK = "before-shrink"
    #: After new members are running and configured.
    AFTER_GROW = "after-grow"


@dataclass(frozen=True, kw_only=True, slots=True)
class RoleResize:
    """A change of a role's member count, as given to ``kd_on_resize``."""

    role: str
    phase: ResizePhase
    current_members: int
    desired_members: int
    #: Members about to be removed (highest ordinals first); empty when growing.
    leaving: tuple[Member, ...] = ()
    #: Members just added; empty when shrinking.
    joining: tuple[Member, ...] = ()
    #: The keys (:attr:`ExecAction.key`) of this role's resize actions that are done:
    #: an ``EXITS_ZERO`` action exited 0, a ``CHECK_SUCCEEDS`` action's check exited 0.
    #: Recorded in the cluster's status, so it survives an operator restart; cleared
    #: once the resize is finished.
    done_keys: frozenset[str] = frozenset()
    #: Every member of the cluster once this resize is done (all roles, by role
    #: then ordinal): leaving members excluded, joining members included.
    members: tuple[Member, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaving", tuple(self.leaving))
        object.__setattr__(self, "joining", tuple(self.joining))
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "done_keys", frozenset(self.done_keys))
        if self.current_members < 0 or self.desired_members < 0:
            raise ValueError(f"role {self.role!r}: member counts cannot be negative")

    @property
    def is_noop(self) -> bool:
        """True when the member count does not change."""
        return self.current_members == self.desired_members

    def is_done(self, action: ExecAction) -> bool:
        """True when ``action`` (by its key) is recorded as done for this resize."""
        return action.key in self.done_keys


class ResizeVerdict(StrEnum):
    """What a plugin says about a resize."""

    PROCEED = "proceed"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass(frozen=True, kw_only=True, slots=True)
class ResizeDecision:
    """A plugin's answer to a resize: proceed, wait (running actions), or refuse.

    Build one with :meth:`proceed`, :meth:`wait` or :meth:`refuse`. While the
    verdict is ``WAIT`` the core runs ``actions`` that are not done yet and
    asks again on a later reconcile (after ``retry_after_seconds`` at the
    latest, or an action's ``poll_seconds``); the resize goes ahead only once
    every plugin says ``PROCEED``. A ``WAIT`` with actions that are all done
    (their keys are in :attr:`RoleResize.done_keys`) counts as ``PROCEED``:
    to keep waiting after them, return new actions, or a ``WAIT`` with only
    ``retry_after_seconds``. ``REFUSE`` stops the resize and puts ``reason``
    in the cluster's status; it is only meaningful before a shrink.
    """

    verdict: ResizeVerdict
    reason: str = ""
    actions: tuple[ExecAction, ...] = ()
    retry_after_seconds: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(self.actions))
        if self.verdict is ResizeVerdict.REFUSE and not self.reason:
            raise ValueError("refusing a resize needs a reason a person can act on")
        if self.verdict is not ResizeVerdict.WAIT and self.actions:
            raise ValueError("only a WAIT decision carries actions")
        if self.verdict is ResizeVerdict.WAIT and not (self.actions or self.retry_after_seconds):
            raise ValueError("a WAIT decision needs actions or retry_after_seconds")

    @classmethod
    def proceed(cls) -> Self:
        """Let the resize go ahead as far as this plugin is concerned."""
        return cls(verdict=ResizeVerdict.PROCEED)

    @classmethod
    def wait(
        cls,
        *actions: ExecAction,
        reason: str = "",
        retry_after_seconds: float | None = None,
    ) -> Self:
        """Hold the resize while ``actions`` run; the hook is asked again later."""
        return cls(
            verdict=ResizeVerdict.WAIT,
            reason=reason,
            actions=actions,
            retry_after_seconds=retry_after_seconds,
        )

    @classmethod
    def refuse(cls, reason: str) -> Self:
        """Stop the resize; ``reason`` is shown in the cluster's status."""
        return cls(verdict=ResizeVerdict.REFUSE, reason=reason)


# ---------------------------------------------------------------------------
# Node failures
# ---------------------------------------------------------------------------


class NodeProblem(StrEnum):
    """What is wrong with the node a member runs on."""

    #: The node reports NotReady.
    NOT_READY = "not-ready"
    #: The node stopped reporting (its Ready condition is Unknown).
    UNREACHABLE = "unreachable"
    #: The Node object was deleted: the member cannot come back there.
    GONE = "gone"


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeDown:
    """A member whose node is in trouble, as given to ``kd_on_node_down``."""

    member: Member
    node_name: str
    problem: NodeProblem
    #: How long the node has been in this state, from its condition's transition time.
    down_for_seconds: float
    #: Whether the member keeps data on a PersistentVolume.
    has_persistent_storage: bool
    #: The cluster's grace for a NotReady or unreachable node (``spec.nodeDownGraceSeconds``,
    #: 300 by default): the core's default policy replaces the member after it.
    grace_seconds: float = 300.0
    #: The node carries the ``node.kubernetes.io/out-of-service`` taint: a person
    #: confirmed it is shut down, so its pods are deleted forcibly whatever ``force`` says.
    out_of_service: bool = False


class NodeDownAction(StrEnum):
    """What the core does about a member on a failed node."""

    #: Do nothing yet; ask again after ``retry_after_seconds``.
    WAIT = "wait"
    #: Delete the member's pod so that it is re-created elsewhere (its PVC is kept).
    REPLACE_MEMBER = "replace-member"
    #: Re-create every member of the member's role.
    RESTART_ROLE = "restart-role"
    #: Re-create every member of the cluster.
    RESTART_CLUSTER = "restart-cluster"


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeDownDecision:
    """A policy's answer for a member on a failed node, with a reason for people.

    ``force`` lets the core delete pods on a node that still exists but is
    NotReady or unreachable forcibly (grace period 0), so that the member is
    re-created at once. Without it such a pod is deleted gracefully, which
    cannot finish while the node is cut off: the member waits until the node
    is confirmed gone (the Node deleted, or tainted
    ``node.kubernetes.io/out-of-service``), as Kubernetes itself does. Set it
    only when a second copy of the member is harmless or fenced by the app:
    the old pod may still run on the cut-off node, against the same volume.
    """

    action: NodeDownAction
    reason: str
    retry_after_seconds: float | None = None
    #: Delete pods on a present but failed node forcibly (see the class docstring).
    force: bool = False

    def __post_init__(self) -> None:
        if not self.reason:
            raise ValueError("a NodeDownDecision needs a reason; it is shown as an Event")
        if self.action is NodeDownAction.WAIT and not self.retry_after_seconds:
            raise ValueError("a WAIT decision needs retry_after_seconds")
        if self.action is NodeDownAction.WAIT and self.force:
            raise ValueError("force applies to a replace or restart decision, not to WAIT")

    @classmethod
    def wait(cls, reason: str, retry_after_seconds: float) -> Self:
        """Leave the member alone for now; the policy is asked again later."""
        return cls(
            action=NodeDownAction.WAIT, reason=reason, retry_after_seconds=retry_after_seconds
        )

    @classmethod
    def replace_member(cls, reason: str, *, force: bool = False) -> Self:
        """Re-create the member's pod on another node (``force``: see the class docstring)."""
        return cls(action=NodeDownAction.REPLACE_MEMBER, reason=reason, force=force)

    @classmethod
    def restart_role(cls, reason: str, *, force: bool = False) -> Self:
        """Re-create every member of the role (``force``: see the class docstring)."""
        return cls(action=NodeDownAction.RESTART_ROLE, reason=reason, force=force)

    @classmethod
    def restart_cluster(cls, reason: str, *, force: bool = False) -> Self:
        """Re-create every member of the cluster (``force``: see the class docstring)."""
        return cls(action=NodeDownAction.RESTART_CLUSTER, reason=reason, force=force)


# ---------------------------------------------------------------------------
# Scheduling and scaling
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class GangPolicy:
    """All-or-nothing admission: members the scheduler must place together.

    ``min_members`` maps a role id to how many of its members must be
    schedulable at once before any of the gang starts; roles not named are
    scheduled as usual. The core creates the named roles' pods with the
    scheduling gate :data:`GANG_SCHEDULING_GATE` and lifts the gates all
    together once the pods fit on the nodes; its condition ``Admitted``
    says what is missing meanwhile, with reason ``GangTimedOut`` once the
    gang waited longer than ``timeout_seconds``.
    """

    min_members: Mapping[str, int]
    timeout_seconds: float = 600.0

    def __post_init__(self) -> None:
        frozen = MappingProxyType(dict(sorted(self.min_members.items())))
        object.__setattr__(self, "min_members", frozen)
        if not frozen:
            raise ValueError("a GangPolicy must name at least one role")
        for role, count in frozen.items():
            if count < 1:
                raise ValueError(f"GangPolicy: role {role!r} needs a minimum of at least 1")
        if self.timeout_seconds <= 0:
            raise ValueError("GangPolicy: timeout_seconds must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class AutoscaleInput:
    """What an autoscale policy decides from, for one role.

    ``metrics`` holds role-wide means by name (see :data:`CPU_UTILIZATION`);
    a missing metric was not observed. ``min_members`` and ``max_members``
    are the role's bounds; the core clamps any answer to them.
    """

    role: str
    current_members: int
    min_members: int
    max_members: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    #: The utilization the default policy steers towards.
    target_utilization: float = 0.7

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))
        if not 0 <= self.min_members <= self.max_members:
            raise ValueError(
                f"role {self.role!r}: bounds must satisfy 0 <= min_members <= max_members, "
                f"got {self.min_members}..{self.max_members}"
            )
        if self.current_members < 0:
            raise ValueError(f"role {self.role!r}: current_members cannot be negative")
        if not 0 < self.target_utilization <= 1:
            raise ValueError(f"role {self.role!r}: target_utilization must be in (0, 1]")

    def clamp(self, members: int) -> int:
        """Return ``members`` brought within the role's bounds."""
        return max(self.min_members, min(self.max_members, members))


def _http_url(url: object, what: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{what}: url must be an http:// or https:// URL, got {url!r}")
    return url


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricsEndpoint:
    """Where the core reads a role's metrics, as given by ``kd_metrics_endpoint``.

    ``url`` is an ``http://`` or ``https://`` URL that the core GETs itself,
    from the operator, with a time limit; the body is handed to
    ``kd_read_metrics`` as :attr:`MetricsReading.body`.
    """

    url: str

    def __post_init__(self) -> None:
        _http_url(self.url, "MetricsEndpoint")


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricsReading:
    """A response the core fetched for a role's metrics, as given to ``kd_read_metrics``.

    ``members`` are every current member of the cluster (all roles); ``url`` is the URL the core
    fetched (the plugin's endpoint, or the role's ``autoscale.metricSource.url``
    when set); ``body`` is the response body, decoded as UTF-8.
    """

    role: str
    members: tuple[Member, ...]
    url: str
    body: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        _http_url(self.url, f"MetricsReading of role {self.role!r}")
