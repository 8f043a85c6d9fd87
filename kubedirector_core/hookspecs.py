"""The hooks a kubedirector plugin can implement: the plugin author's contract.

Implement a hook by writing a function of the same name, decorated with
:data:`hookimpl`, in the object your ``kubedirector`` entry point names. Take
only the arguments you need: arguments may be added to a hook in a later
version without breaking existing implementations.

Rules that hold for every hook:

* Plugins receive data and return data. They never call the Kubernetes API,
  never sleep, and keep no state between calls: any call may be repeated, and
  calls for different clusters may run concurrently.
* A plugin is called only for the app types it claims (:func:`kd_claims`).
  ``kd_claims`` itself is the one hook called without an app.
* ``app`` is always the KubeDirectorApp concerned and ``cluster`` the
  KubeDirectorCluster (as stored, with its status) that instantiates it.
* The arguments are the core's own objects: never modify them, except the
  ``objects`` list given to :func:`kd_pre_create`, which is a private copy.
* An exception raised by a hook is reported, naming the plugin and the hook,
  in the cluster's status and as an Event; that cluster is retried later
  and other clusters are not affected. A hook that runs longer than the time
  limit (``KD_HOOK_TIMEOUT``) is treated the same way.

Hooks marked *firstresult* are policies: implementations are asked in order
and the first answer other than ``None`` wins; ``None`` abstains. The core's
own default answers last (``trylast=True``), so it applies only when no
plugin answers, whatever the order plugins were registered in.

The full reference, with examples, is ``docs/hooks.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from kubedirector_core.api import ClusterRole, KubeDirectorApp, KubeDirectorCluster
    from kubedirector_core.hooktypes import (
        AutoscaleInput,
        ExecAction,
        GangPolicy,
        Member,
        MemberFile,
        MetricsEndpoint,
        MetricsReading,
        NodeDown,
        NodeDownDecision,
        ResizeDecision,
        RoleResize,
    )
    from kubedirector_core.problems import Problem

#: The pluggy project name; entry points are read from the group of the same name.
PROJECT_NAME = "kubedirector"

#: Marks a function in this module as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin's function as a hook implementation.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Discovery: which app types a plugin handles
# ---------------------------------------------------------------------------


@hookspec
def kd_claims() -> Sequence[str]:
    """Name the app types this plugin handles.

    Called once per plugin when the plugin manager is built (and again if
    plugins are registered or removed), never per cluster.

    :returns: patterns in :func:`fnmatch.fnmatchcase` syntax, each matched
        against an app's ``spec.distroID`` and against its ``metadata.name``;
        an app matching any pattern is claimed. ``"*"`` claims every app.
        A plugin that does not implement this hook claims nothing, and its
        other hooks are never called.
    :raises: nothing on purpose: an exception here stops start-up with a
        :class:`~kubedirector_core.errors.PluginLoadError` naming the plugin.

    Added in 0.1.0.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Validation: admission, CLI and every reconcile
# ---------------------------------------------------------------------------


@hookspec
def kd_validate_app(app: KubeDirectorApp) -> Sequence[Problem] | None:
    """Report what is wrong with an app definition the plugin claims.

    Called after the core's own rules pass, when an app is created or
    changed (admission webhook), by ``kubedirector validate``, and when the
    catalog is loaded. Must be fast: it runs inside an admission request.

    :param app: the app definition, already valid for the core.
    :returns: problems, each with the field path in the app as written on the
        wire (``spec.roles[0].minResources``); an empty sequence or ``None``
        means nothing is wrong. The core sets each problem's ``source`` to the
        plugin's name and combines the answers of all plugins.
    :raises: an exception is turned into one error problem naming the plugin,
        so a broken plugin rejects the apps it claims rather than passing them.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec
def kd_validate_cluster(
    cluster: KubeDirectorCluster,
    app: KubeDirectorApp,
    old: KubeDirectorCluster | None,
) -> Sequence[Problem] | None:
    """Report what is wrong with a cluster of an app the plugin claims.

    Called after the core's own rules pass, on create and update (admission
    webhook), by ``kubedirector validate`` and at the start of every
    reconcile. Must be fast: it runs inside an admission request.

    :param cluster: the cluster as submitted.
    :param app: the app the cluster instantiates.
    :param old: the cluster before this update, or ``None`` on create and
        when no earlier version is known; use it to refuse changes the app
        cannot make (for example a new storage size).
    :returns: problems with field paths in the cluster (``spec.roles[1].members``);
        an empty sequence or ``None`` means nothing is wrong.
    :raises: as for :func:`kd_validate_app`.

    Added in 0.1.0.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Rendering: desired objects and what members are told
# ---------------------------------------------------------------------------


@hookspec
def kd_pre_create(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    objects: list[dict[str, Any]],
) -> list[dict[str, Any]] | None:
    """Adjust the rendered Kubernetes objects of one role before they are applied.

    Called on every render of every role, not only at creation, so the result
    must depend on the arguments alone: the same input must give the same
    output, with no timestamps, random names or counters. Plugins that claim
    the app are called in turn, each receiving the previous one's output.

    :param app: the app.
    :param cluster: the cluster being rendered.
    :param role: the cluster's spec for this role (``role.id`` is its id).
    :param objects: the role's manifests as plain dicts, in wire form: its
        StatefulSet (pod template, volume claim templates, scheduling) and
        its Services. This list and its contents are a copy owned by the
        plugin for the duration of the call.
    :returns: the objects to apply instead: either ``objects`` changed in
        place, or a new list (objects may be added, for example a PodGroup,
        or removed). ``None`` means "no change".
    :raises: the render of this cluster fails and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec
def kd_configmeta(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    members: Sequence[Member],
) -> Mapping[str, Any] | None:
    """Give members extra app metadata through ``configmeta.json``.

    Called whenever configmeta is rendered for a cluster (on create, resize
    and configuration change). The answer appears in every member's
    ``/etc/guestconfig/configmeta.json`` under ``plugin_metadata.<plugin
    name>``, where the app's setup scripts can read it.

    :param members: every desired member of the cluster (all roles, by role
        then ordinal), with its pod name, role, ordinal, fully qualified
        hostname and node id, including members whose pods do not exist yet
        and excluding members that are leaving. Use it instead of
        reconstructing names from the spec. (Argument added after 0.1.0's
        first plugins; take it only if you need it.)

    :returns: a JSON-serialisable mapping, deterministic for the same input;
        ``None`` adds nothing.
    :raises: the render of this cluster fails and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec
def kd_member_files(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    member: Member,
    members: Sequence[Member],
) -> Sequence[MemberFile] | None:
    """Give a member generated files, such as configuration files or TF_CONFIG.

    Called for each member when its configmeta is rendered. The core writes
    the files into the member before running the app's ``--configure`` (and
    before ``--addnodes``/``--delnodes`` when they change).

    :param role: the cluster's spec of the member's role.
    :param member: the member the files are for.
    :param members: every desired member of the cluster, as for
        :func:`kd_configmeta` (``member`` is one of them).
    :returns: files, deterministic for the same input; two plugins may not
        write the same path. ``None`` gives nothing.
    :raises: the render of this cluster fails and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def kd_gang_policy(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> GangPolicy | None:
    """Ask that some members be admitted all together or not at all.

    *firstresult.* Called on every render. Useful for distributed training,
    where a partial set of workers only holds resources.

    The pods of the roles named in the policy are created with the
    scheduling gate ``kubedirector.hpe.com/gang``; the core lifts the gates
    of all of them together once the whole gang fits on the nodes (GPU and
    other resource requests, taints and tolerations, node selectors and
    required node affinity), and until then the cluster's condition
    ``Admitted`` says what is missing.

    :returns: a :class:`~kubedirector_core.hooktypes.GangPolicy`, or ``None``
        to schedule members one by one (the core's behaviour when no plugin
        answers; pods gated earlier are then released).
    :raises: the render of this cluster fails and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Lifecycle: readiness, resize, configuration changes
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def kd_member_readiness(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    member: Member,
    members: Sequence[Member],
) -> ExecAction | None:
    """Say how to tell that a configured member is really ready.

    *firstresult.* Called on every reconcile while a joining member (state
    ``creating``) has been set up (its ``--configure`` succeeded in its
    current container) and is not ready yet, and while a member is in
    ``config error`` because its readiness action failed. Members already
    ``configured`` are not asked, also when a restarted container is set up
    again.

    Until the action is done the member stays ``creating``: it does not join
    (no ``--addnodes`` about it, no ``AFTER_GROW`` resize, the cluster stays
    ``creating``/``updating``). Done is recorded by key in the cluster's
    status (``doneActions``), so it survives an operator restart. A failed
    action (or a check not passed ``timeout_seconds`` after it started) puts
    the member in ``config error``; the hook is still asked, and a new key
    (or ``None``) is taken as its new answer.

    :param role: the cluster's spec of the member's role.
    :param member: the member to judge.
    :param members: every desired member of the cluster, as for
        :func:`kd_configmeta` (``member`` is one of them), to find for
        example the member that can tell (the NameNode).
    :returns: an action whose completion (see its ``done_when``) marks the
        member ready, for example a check that a DataNode registered; it may
        run in another member of the cluster. ``None``: the member is ready
        as soon as it is configured.
    :raises: the member stays not ready and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec
def kd_on_resize(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    resize: RoleResize,
) -> ResizeDecision | None:
    """Decide about a role changing its member count.

    Called before a role shrinks (``resize.phase`` is ``BEFORE_SHRINK``, the
    leaving members still run) and after it grows (``AFTER_GROW``, the new
    members are configured), on every reconcile until every plugin answers
    ``PROCEED``. Must tolerate a no-op resize (``resize.is_noop``) by
    proceeding. A ``WAIT`` whose actions are all done (their keys are in
    ``resize.done_keys``, recorded in the cluster's status) counts as
    ``PROCEED``; ``resize.members`` is the cluster's membership once the
    resize is done.

    :returns: a :class:`~kubedirector_core.hooktypes.ResizeDecision`:
        proceed; wait while actions such as decommissioning run; or, before
        a shrink only, refuse with a reason. ``None`` means proceed. When
        several plugins answer, any refusal wins, then any wait (their actions
        are combined), else the resize proceeds.
    :raises: the resize waits and the error is reported; refusing after a
        grow is reported the same way.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec
def kd_on_config_change(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    old: KubeDirectorCluster,
) -> Sequence[ExecAction] | None:
    """Act on a change of a running cluster that does not resize a role.

    Such a change is a change of ``spec.connections`` (its clusters,
    ConfigMaps or Secrets): the only part of a running cluster's spec that
    the core carries out in place by telling the members. A role with
    members may change only its member count and autoscale settings, so its
    environment and file injections never change in place. Called once per
    change, on the first reconcile after every configured member ran its
    ``--reconnect``; not for a cluster still being created, nor when only a
    connected object (not the spec) changed. Asked again only to retry:
    after it raised, or while an action it gave is not done.

    :param old: the cluster as last reconciled, rebuilt from the status (it
        survives operator restarts): its ``spec.connections`` and
        ``metadata.generation`` are the last reconciled ones; the rest is the
        cluster as it is now.
    :returns: actions to run, such as reloading a service; each runs once
        and is recorded done by its key as for ``kd_on_resize``; the change is
        finished once all are done. ``None`` or an empty sequence means none.
    :raises: the change waits and is retried; the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Failures and scaling policies
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def kd_on_node_down(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    event: NodeDown,
) -> NodeDownDecision | None:
    """Decide what to do about a member whose node is NotReady, unreachable or gone.

    *firstresult.* Called on each reconcile while the member's node is in
    trouble, until the decision is carried out. The core's default
    (``trylast``) waits ``event.grace_seconds`` (the cluster's
    ``spec.nodeDownGraceSeconds``, 300 by default) for a NotReady or
    unreachable node, then replaces the member; a member whose Node object is
    gone is replaced at once. It never restarts a role or the cluster, and
    never sets ``force``.

    Pods on a node that still exists are deleted gracefully, which only the
    node's kubelet can complete: on a cut-off node the member then waits
    (status ``nodeDown[].waitingFor``, Event ``NodeDownBlocked``) until a
    person deletes the Node or taints it ``node.kubernetes.io/out-of-service``,
    so that two copies never run against one volume. A policy whose app
    tolerates or fences a second copy may return
    ``NodeDownDecision.replace_member(reason, force=True)`` to have them
    deleted forcibly at once.

    :param event: the member, its node, the problem and how long it lasted.
    :returns: a :class:`~kubedirector_core.hooktypes.NodeDownDecision`, or
        ``None`` to leave the decision to the next plugin and finally to
        the default.
    :raises: nothing is done for the member this time and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def kd_autoscale_policy(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    request: AutoscaleInput,
) -> int | None:
    """Choose how many members a role should have, from its metrics.

    *firstresult.* Called for each role whose ``spec.roles[].autoscale`` is
    enabled, once per evaluation interval, with the metrics of its metric
    source. The answer is a recommendation: the core applies stabilization
    windows and resizes through the normal path (``kd_on_resize`` runs). The
    core's default (``trylast``) steers
    :data:`~kubedirector_core.hooktypes.CPU_UTILIZATION` towards
    ``request.target_utilization``, ignoring deviations within 10 %, and
    keeps the current count when the metric is missing.

    :returns: the desired member count, which the core clamps to the role's
        bounds; ``None`` abstains. Anything but a non-negative ``int`` is
        reported like an exception.
    :raises: the role keeps its member count and the error is reported.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def kd_metrics_endpoint(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: str,
    members: Sequence[Member],
) -> MetricsEndpoint | None:
    """Say where the metrics of an autoscaled role can be read.

    *firstresult.* Called for each role whose ``autoscale.metricSource.type``
    is ``Plugin``, once per evaluation interval, just before
    :func:`kd_autoscale_policy` would be asked (never on a reconcile that is
    not an evaluation). The core GETs the URL itself, from the operator, with
    a time limit, and hands the body to :func:`kd_read_metrics`. When the
    role's ``metricSource.url`` is set, that URL is fetched instead (the
    hook is still asked, and may abstain).

    :param role: the role's id.
    :param members: every current member of the cluster, all roles (pod name,
        role, hostname, node): pick the one serving the metrics, often another
        role's (the app's master), by ``Member.role``.
    :returns: a :class:`~kubedirector_core.hooktypes.MetricsEndpoint`, for
        example the web UI of the app's master (``http://<its hostname>:8088
        /ws/v1/cluster/metrics``); ``None`` abstains. When no plugin answers
        and ``metricSource.url`` is not set, the role has no metrics and
        keeps its size, with condition ``Autoscaling`` ``False``.
    :raises: the role has no metrics this time (it keeps its size) and the
        error, naming the plugin, is in the ``Autoscaling`` condition.

    Added in 0.1.0.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def kd_read_metrics(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    reading: MetricsReading,
) -> Mapping[str, float] | None:
    """Turn the body the core fetched from a role's metrics endpoint into metrics.

    *firstresult.* Called after the core fetched the URL of
    :func:`kd_metrics_endpoint` (or ``metricSource.url``) successfully.
    Parse only: the core did the I/O.

    :param reading: the role, its members, the URL fetched and the response
        body decoded as UTF-8.
    :returns: role-wide metrics by name (finite numbers, e.g.
        ``{"yarn_pending_containers": 12}``), given to
        :func:`kd_autoscale_policy` as ``request.metrics``; ``None`` abstains.
        Anything but a mapping of names to finite numbers is reported like an
        exception.
    :raises: the role has no metrics this time (it keeps its size) and the
        error, naming the plugin, is in the ``Autoscaling`` condition.

    Added in 0.1.0.
    """
    raise NotImplementedError
