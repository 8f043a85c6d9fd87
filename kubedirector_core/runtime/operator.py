"""The operator: kopf watches feed the caches, a coalescing queue feeds the reconciles.

::

    LIST of everything (prime) ─┐
    kopf watch streams ─────────┴─▶ event handlers ──▶ Caches ──▶ WorkQueue.mark(cluster)
    workers ◀── WorkQueue.take() ──▶ Caches.snapshot() ──▶ Reconciler.reconcile (thread)
            └── written objects back into the Caches, requeue_after ──▶ WorkQueue.mark_later

Only ``kopf.on.event`` handlers are registered: kopf then writes nothing on
the objects (no last-handled-configuration annotation, no progress, no
finalizer of its own) and posts no Events, and it is configured to keep no
diff base or progress either (:func:`operator_settings`), which would cost
two deep copies of every event's body. The caches are filled from one LIST of
everything before the first reconcile (:meth:`Operator.prime`), so it already
sees all of a cluster's children; a watch event marks a cluster only when it
changed what the cluster's snapshot holds (or is the echo of the operator's own
write), so kopf's own initial listing after a restart marks nothing the
priming had not already marked.

:func:`supervise` wraps :meth:`Operator.run` for ``kubedirector run``: it serves
the probes and metrics (:mod:`.health`, :mod:`.telemetry`) and, with leader
election (:mod:`.leader`), starts the operator only once this replica leads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client

from kubedirector_core.plan.model import Manifest
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.plugins import Hooks, load_hooks
from kubedirector_core.runtime.cache import Caches, ClusterKey, Snapshot
from kubedirector_core.runtime.connection import connection_info, load_configuration
from kubedirector_core.runtime.globalconfig import ConfigWatch, settings_of
from kubedirector_core.runtime.health import Health, HttpServer
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.leader import ElectionOptions, LeaderElector, stop_process
from kubedirector_core.runtime.logs import cluster_context
from kubedirector_core.runtime.nodeusage import NodeUsage, PodUsageWatch, UsageChanges
from kubedirector_core.runtime.objects import CLUSTER_LABEL, is_newer
from kubedirector_core.runtime.reconciler import Outcome, Planner, Reconciler, RuntimeSettings
from kubedirector_core.runtime.selectors import LabelPredicate, parse_selector
from kubedirector_core.runtime.telemetry import Telemetry
from kubedirector_core.runtime.webhook import ApiAdmissionFacts, WebhookOptions, WebhookService
from kubedirector_core.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)

GROUP = "kubedirector.hpe.com"
#: Seconds after start-up when everything is listed once more (see :meth:`Operator.resync_after`).
RESYNC_AFTER = 15.0


@dataclass(frozen=True)
class Watch:
    """One watched resource and the handler that feeds its events into the caches."""

    resource: tuple[str, str, str]
    kind: str
    handler: Callable[[str | None, Mapping[str, Any]], None]
    children_only: bool = False
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``group/version`` (``version`` for the core group)."""
        group, version, _ = self.resource
        return f"{group}/{version}" if group else version

    def path(self, namespace: str | None) -> str:
        """The REST path of the collection, in ``namespace`` or everywhere."""
        group, version, plural = self.resource
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def _tombstone(watch: Watch, key: tuple[str, str], caches: Caches) -> Manifest:
    """A body good enough for ``watch.handler("DELETED", ...)`` of a cached object."""
    namespace, name = key
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    labels = caches.labels_of(watch.kind, key)
    if labels:
        metadata["labels"] = labels
    uid = caches.uid_of(watch.kind, key)
    if uid:
        metadata["uid"] = uid
    return {"apiVersion": watch.api_version, "kind": watch.kind, "metadata": metadata}


@dataclass(frozen=True)
class OperatorOptions:
    """What ``kubedirector run`` was asked to do."""

    kubeconfig: Path | None = None
    context: str | None = None
    #: Watch only these namespaces; empty means every namespace.
    namespaces: tuple[str, ...] = ()
    #: Reconcile only clusters in namespaces whose labels match this selector.
    namespace_selector: str | None = None
    #: Where cluster-wide ("system") apps live.
    system_namespace: str = "kubedirector"
    #: Reconciles running at once (each cluster has at most one).
    workers: int = 4
    #: Seconds the API server keeps a watch open (kopf's default is unbounded: nolar/kopf#585).
    watch_server_timeout: float = 300.0
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    #: Serve the admission webhooks on this replica, leader or not (see :mod:`.webhook`).
    webhook: WebhookOptions | None = None
    #: Compete for this Lease and act only while holding it; ``None``: act at once.
    leader_election: ElectionOptions | None = None
    #: Serve ``/metrics`` on this (host, port); ``None``: not at all.
    metrics_address: tuple[str, int] | None = None
    #: Serve ``/healthz`` and ``/readyz`` on this (host, port); ``None``: not at all.
    health_address: tuple[str, int] | None = None


class NoDiffBase(kopf.DiffBaseStorage):
    """Keeps no diff base: only change handlers use one, and this operator has none.

    kopf's own storages deep-copy every event's body to build it (and the
    progress storage copies it again to clean it), for every event of every
    watched object.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        """An empty essence, without copying ``body``."""
        return {}

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """No stored essence."""
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Store nothing (kopf calls it only after change handlers)."""


class NoProgress(kopf.ProgressStorage):
    """Keeps no handler progress: event handlers have none to keep."""

    def fetch(self, *, key: Any, body: kopf.Body) -> kopf.ProgressRecord | None:
        """No stored progress."""
        return None

    def store(self, *, key: Any, record: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        """Store nothing."""

    def purge(self, *, key: Any, body: kopf.Body, patch: kopf.Patch) -> None:
        """Nothing to purge."""

    def touch(self, *, body: kopf.Body, patch: kopf.Patch, value: str | None) -> None:
        """Nothing to touch."""

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        """``essence`` as it is: it holds nothing of ours (and is not copied)."""
        return essence


def operator_settings(options: OperatorOptions) -> kopf.OperatorSettings:
    """kopf's settings: bounded watches, no Event posting, no peering, no stored state."""
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.persistence.progress_storage = NoProgress()
    settings.watching.server_timeout = int(options.watch_server_timeout)
    settings.watching.client_timeout = options.watch_server_timeout + 30
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    settings.scanning.disabled = True
    settings.peering.standalone = True
    return settings


class Operator:
    """Caches, queue and reconciler, wired to kopf by :meth:`registry`."""

    def __init__(
        self,
        options: OperatorOptions,
        api: KubeApi,
        hooks: Hooks,
        *,
        planner: Planner | None = None,
    ) -> None:
        self.options = options
        self.api = api
        self.hooks = hooks
        self.caches = Caches(system_namespace=options.system_namespace)
        self.reconciler = Reconciler(api, hooks, planner=planner, settings=options.runtime)
        self.queue: WorkQueue[ClusterKey] | None = None
        #: Requests of every pod bound to each node, in any namespace (for gang admission).
        self.node_usage = NodeUsage()
        self._usage_watch: PodUsageWatch | None = None
        self._config_watch: ConfigWatch | None = None
        self._failures: dict[ClusterKey, int] = {}
        self._selector: LabelPredicate | None = (
            parse_selector(options.namespace_selector) if options.namespace_selector else None
        )
        self.telemetry = Telemetry()
        self.health = Health(watch_limit=2 * options.watch_server_timeout)
        self.elector: LeaderElector | None = None
        hooks.add_observer(self.telemetry.hook_called)
        self.reconciler.action_observers.append(self.telemetry.action_done)
        #: Kinds whose writes must come back as watch events (True: only if cluster-labelled).
        self._echoed: dict[str, bool] = {w.kind: w.children_only for w in self.watched()}
        #: ``(kind, namespace, name) -> (resourceVersion, cluster)`` of own writes whose
        #: watch event has not arrived yet (see :meth:`_echoed_write`).
        self._unechoed: dict[tuple[str, str, Any], tuple[str, ClusterKey]] = {}
        self._threads = ThreadPoolExecutor(
            max_workers=options.workers, thread_name_prefix="kd-reconcile"
        )

    # -- selection and marking ----------------------------------------------------

    def selected(self, namespace: str) -> bool:
        """True when clusters in ``namespace`` are this operator's to reconcile."""
        if self.options.namespaces and namespace not in self.options.namespaces:
            return False
        if self._selector is not None:
            return self._selector(self.caches.namespace_labels.get(namespace, {}))
        return True

    def mark(self, key: ClusterKey) -> None:
        """Ask for a reconcile of the cluster ``key``."""
        if self.queue is not None and self.selected(key[0]) and key in self.caches.clusters:
            self.queue.mark(key)

    # -- handlers -----------------------------------------------------------------

    def watched(self) -> list[Watch]:
        """Every resource the operator watches, and the handler feeding its events to the caches."""
        watches = [
            Watch(
                (GROUP, "v1beta1", "kubedirectorclusters"), "KubeDirectorCluster", self._on_cluster
            ),
            Watch((GROUP, "v1beta1", "kubedirectorapps"), "KubeDirectorApp", self._on_app),
            Watch(
                ("apps", "v1", "statefulsets"), "StatefulSet", self._on_child, children_only=True
            ),
            Watch(("", "v1", "services"), "Service", self._on_child, children_only=True),
            Watch(
                ("", "v1", "persistentvolumeclaims"),
                "PersistentVolumeClaim",
                self._on_child,
                children_only=True,
            ),
            Watch(("", "v1", "pods"), "Pod", self._on_pod, children_only=True),
            Watch(("", "v1", "configmaps"), "ConfigMap", self._on_configmap),
            Watch(("", "v1", "secrets"), "Secret", self._on_secret),
            Watch(("", "v1", "nodes"), "Node", self._on_node, namespaced=False),
            Watch(
                ("storage.k8s.io", "v1", "storageclasses"),
                "StorageClass",
                self._on_storage_class,
                namespaced=False,
            ),
        ]
        if self._selector is not None:
            watches.append(
                Watch(("", "v1", "namespaces"), "Namespace", self._on_namespace, namespaced=False)
            )
        return [
            Watch(
                w.resource, w.kind, self._tracked(w.kind, w.handler), w.children_only, w.namespaced
            )
            for w in watches
        ]

    def _tracked(
        self, kind: str, handler: Callable[[str | None, Mapping[str, Any]], None]
    ) -> Callable[[str | None, Mapping[str, Any]], None]:
        def tracked(event: str | None, body: Mapping[str, Any]) -> None:
            self.caches.track(kind, event, body)
            self.health.seen(kind, body, deleted=event == "DELETED")
            handler(event, body)
            self._echoed_write(kind, event, body)

        return tracked

    def _await_echo(self, key: ClusterKey, body: Manifest) -> None:
        """Remember the operator's write of ``body``: its watch event marks ``key`` again.

        Only for writes a watch sees (:meth:`_echoes`), so every entry is removed
        by an event sooner or later.
        """
        metadata = body.get("metadata") or {}
        version = metadata.get("resourceVersion")
        if version:
            name = (str(body.get("kind")), metadata.get("namespace") or "", metadata.get("name"))
            self._unechoed[name] = (str(version), key)

    def _echoed_write(self, kind: str, event: str | None, body: Mapping[str, Any]) -> None:
        """Mark the cluster of an own write once its watch event (or a later one) arrives.

        The write's response was stored in the caches already, so the handler
        found nothing new in its echo; the reconcile the echo always brought
        (level-triggered: the next one sees what the write changed) is owed all
        the same.
        """
        if not self._unechoed:
            return
        metadata = body.get("metadata") or {}
        name = (kind, metadata.get("namespace") or "", metadata.get("name"))
        pending = self._unechoed.get(name)
        if pending is None:
            return
        version, key = pending
        if event == "DELETED" or is_newer(body, {"metadata": {"resourceVersion": version}}):
            del self._unechoed[name]
            self.mark(key)

    # -- priming and resync -------------------------------------------------------

    def _list_everything(self) -> list[tuple[Watch, str | None, str | None, list[Manifest]]]:
        """LIST every watched kind (in a worker thread): the caches' starting point.

        One entry per LIST: the watch, the namespace listed (``None``: all), the
        list's resourceVersion and its items.
        """
        listed = []
        for watch in self.watched():
            scopes: list[str | None] = (
                list(self.options.namespaces)
                if watch.namespaced and self.options.namespaces
                else [None]
            )
            for namespace in scopes:
                body = self.api.request(
                    "GET",
                    watch.path(namespace),
                    query=[("labelSelector", CLUSTER_LABEL)] if watch.children_only else [],
                )
                items = [
                    {**item, "apiVersion": watch.api_version, "kind": watch.kind}
                    for item in body.get("items") or []
                ]
                version = (body.get("metadata") or {}).get("resourceVersion")
                listed.append((watch, namespace, version, items))
        return listed

    async def prime(self) -> None:
        """Fill the caches from a LIST of everything, before the first reconcile runs.

        kopf delivers the initial listings of different kinds in no set
        order, so without this a cluster could be reconciled before its pods
        or the nodes are known (and a known pod's node taken for deleted).
        """
        loop = asyncio.get_running_loop()
        for watch, _namespace, _version, items in await loop.run_in_executor(
            self._threads, self._list_everything
        ):
            for item in items:
                watch.handler("LISTED", item)

    async def resync_after(self, seconds: float) -> None:
        """LIST everything once more and drop what was deleted while the watches started.

        An object deleted between :meth:`prime` and the start of kopf's watch
        would otherwise stay in the caches forever.
        """
        await asyncio.sleep(seconds)
        loop = asyncio.get_running_loop()
        try:
            listed = await loop.run_in_executor(self._threads, self._list_everything)
        except Exception:
            log.exception("the resync LIST failed; the watches keep the caches")
            return
        for watch, namespace, version, items in listed:
            present = {
                ((item["metadata"].get("namespace") or ""), item["metadata"]["name"])
                for item in items
            }
            for stale in self.caches.absent(watch.kind, present, version, namespace):
                log.info("dropping %s %s/%s, deleted before the watch began", watch.kind, *stale)
                watch.handler("DELETED", _tombstone(watch, stale, self.caches))

    def registry(self, configuration: client.Configuration) -> kopf.OperatorRegistry:
        """A kopf registry with this operator's login, index and event handlers."""
        registry = kopf.OperatorRegistry()

        @kopf.on.login(registry=registry)
        async def login(**_: Any) -> kopf.ConnectionInfo:
            return connection_info(configuration)

        for watch in self.watched():
            labels = {CLUSTER_LABEL: kopf.PRESENT} if watch.children_only else None
            _register(registry, watch.resource, labels, watch.handler)
        return registry

    # Each handler marks only the clusters whose snapshot the event changed: an event
    # of a version already cached (kopf's initial listing after :meth:`prime`) marks
    # nothing. The echo of the operator's own write, whose response is cached already,
    # marks its cluster through :meth:`_echoed_write`, as it always did.

    def _on_cluster(self, kind: str | None, body: Mapping[str, Any]) -> None:
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        if kind == "DELETED":
            self.caches.drop_cluster(key)
            if self.queue is not None:
                self.queue.forget(key)
        elif self.caches.store_cluster(body):
            self.mark(key)
        else:
            return
        self._mark_connected_to(key)

    def _mark_connected_to(self, key: ClusterKey) -> None:
        """Mark the clusters that connect the cluster ``key`` (their configmeta names it)."""
        for connected in list(
            self.caches.clusters_connected_to(key[0], "KubeDirectorCluster", key[1])
        ):
            self.mark(connected)

    def _on_app(self, kind: str | None, body: Mapping[str, Any]) -> None:
        metadata = body["metadata"]
        if kind == "DELETED":
            self.caches.drop_app(metadata["namespace"], metadata["name"])
        elif not self.caches.store_app(body):
            return
        for key in list(self.caches.clusters_using_app(metadata["namespace"], metadata["name"])):
            self.mark(key)

    def _on_child(self, kind: str | None, body: Mapping[str, Any]) -> None:
        label = self.caches.drop_child(body) if kind == "DELETED" else self.caches.store_child(body)
        if label is not None:
            self.mark(self.caches.cluster_for(label))

    def _on_pod(self, kind: str | None, body: Mapping[str, Any]) -> None:
        label = self.caches.drop_pod(body) if kind == "DELETED" else self.caches.store_pod(body)
        if label is not None:
            self.mark(self.caches.cluster_for(label))

    def _on_config(self, kind: str | None, body: Mapping[str, Any], what: str) -> None:
        metadata = body["metadata"]
        if kind == "DELETED":
            self.caches.config_versions.pop((metadata["namespace"], what, metadata["name"]), None)
            if what == "ConfigMap":
                self.caches.configmap_content.pop((metadata["namespace"], metadata["name"]), None)
        elif not self.caches.store_config(body, what):
            return
        connected = list(
            self.caches.clusters_connected_to(metadata["namespace"], what, metadata["name"])
        )
        if what == "ConfigMap" and kind != "DELETED":
            # The content only of ConfigMaps some cluster connects (for its configmeta).
            self.caches.store_configmap_content(body, connected=bool(connected))
        for key in connected:
            self.mark(key)

    def _on_configmap(self, kind: str | None, body: Mapping[str, Any]) -> None:
        if CLUSTER_LABEL in (body["metadata"].get("labels") or {}):
            self._on_child(kind, body)
        self._on_config(kind, body, "ConfigMap")

    def _on_secret(self, kind: str | None, body: Mapping[str, Any]) -> None:
        # Only the name and version are kept: a Secret's data never reaches the caches.
        self._on_config(kind, {"metadata": body["metadata"]}, "Secret")

    def _on_node(self, kind: str | None, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        if kind == "DELETED":
            self.caches.nodes.pop(name, None)
        elif not self.caches.store_node(body):
            return
        else:
            # A new or changed node may give a waiting gang the room it needs.
            for key in list(self.caches.clusters_waiting_for_capacity()):
                self.mark(key)
        for key in list(self.caches.clusters_on_node(name)):
            self.mark(key)

    def _on_storage_class(self, kind: str | None, body: Mapping[str, Any]) -> None:
        if kind == "DELETED":
            self.caches.storage_classes.pop(body["metadata"]["name"], None)
        else:
            self.caches.store_storage_class(body)

    def _on_namespace(self, kind: str | None, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        labels = dict(body["metadata"].get("labels") or {})
        if kind == "DELETED":
            self.caches.namespace_labels.pop(name, None)
            return
        if self.caches.namespace_labels.get(name) == labels:
            return
        self.caches.namespace_labels[name] = labels
        for key in list(self.caches.clusters):
            if key[0] == name:
                self.mark(key)

    # -- KubeDirectorConfig -------------------------------------------------------

    async def start_config_watch(self) -> None:
        """Read ``kd-global-config`` of the system namespace, then keep watching it.

        Started once per operator; if the first read fails the watch thread
        retries it, and until then the built-in settings apply.
        """
        if self._config_watch is not None:
            return
        loop = asyncio.get_running_loop()

        def from_thread(body: Mapping[str, Any] | None) -> None:
            loop.call_soon_threadsafe(self._on_global_config, body)

        watch = self._config_watch = ConfigWatch(
            self.api,
            self.options.system_namespace,
            from_thread,
            timeout_seconds=self.options.watch_server_timeout,
        )
        try:
            await loop.run_in_executor(self._threads, watch.prime)
            # prime's report is queued on the loop: let it land before the first reconcile.
            await asyncio.sleep(0)
        except Exception:
            log.exception("reading KubeDirectorConfig failed; built-in settings until it is read")
        watch.start()

    def _on_global_config(self, body: Mapping[str, Any] | None) -> None:
        if not self.caches.store_settings(settings_of(body)):
            return
        log.info("KubeDirectorConfig changed; reconciling every cluster")
        # A config change is rare and may concern any cluster (defaults, labels, domain).
        for key in list(self.caches.clusters):
            self.mark(key)

    def settings(self) -> OperatorSettings | None:
        """The watched KubeDirectorConfig's settings; ``None`` until the watch has read it."""
        if self._config_watch is None or not self._config_watch.synced:
            return None
        return self.caches.settings

    # -- node usage ---------------------------------------------------------------

    async def start_node_usage(self) -> None:
        """LIST the pods bound to nodes, everywhere, then keep the sums by a watch thread.

        Started once per operator; if the LIST fails the thread retries it, and
        until then the nodes' ``used`` is empty (as before this existed).
        """
        if self._usage_watch is not None:
            return
        loop = asyncio.get_running_loop()

        def from_thread(changes: UsageChanges) -> None:
            loop.call_soon_threadsafe(self._on_usage, changes)

        watch = self._usage_watch = PodUsageWatch(
            self.api,
            self.node_usage,
            from_thread,
            timeout_seconds=self.options.watch_server_timeout,
        )
        try:
            self._on_usage(await loop.run_in_executor(self._threads, watch.prime))
        except Exception:
            log.exception("listing the pods bound to nodes failed; the watch will retry")
        watch.start()

    def _on_usage(self, changes: UsageChanges) -> None:
        for node in changes:
            self.caches.set_node_used(node, self.node_usage.used_on(node))
        if any(changes.values()):
            for key in list(self.caches.clusters_waiting_for_capacity()):
                self.mark(key)

    # -- the workers --------------------------------------------------------------

    async def _work(self, queue: WorkQueue[ClusterKey]) -> None:
        loop = asyncio.get_running_loop()
        while (key := await queue.take()) is not None:
            outcome: Outcome | None = None
            try:
                snapshot = self.caches.snapshot(key)
                outcome = await loop.run_in_executor(self._threads, self._reconcile, snapshot)
            except Exception:
                log.exception("reconcile of %s/%s failed", *key)
                outcome = Outcome(failed=True)
            finally:
                if outcome is not None:
                    self._absorb(queue, key, outcome)
                queue.done(key)

    def _reconcile(self, snapshot: Snapshot) -> Outcome:
        """One reconcile in a worker thread: measured, and its log lines name the cluster."""
        with cluster_context(*snapshot.key), self.telemetry.measure_reconcile() as measured:
            outcome = self.reconciler.reconcile(snapshot)
            measured(failed=outcome.failed, requeue=outcome.requeue_after is not None)
            return outcome

    def _echoes(self, body: Manifest) -> bool:
        """True when a watch of this operator sees the operator's own write of ``body``."""
        kind = str(body.get("kind"))
        if kind not in self._echoed:
            return False
        labels = (body.get("metadata") or {}).get("labels") or {}
        return not self._echoed[kind] or CLUSTER_LABEL in labels

    async def tend(self, interval: float = 1.0) -> None:
        """Until cancelled: stamp the loop's heartbeat, recount states for the metrics."""
        while True:
            self.health.beat()
            if self.elector is not None and self.elector.reachable:
                self.health.standby()
            self.telemetry.publish_states(self.caches.clusters.values())
            await asyncio.sleep(interval)

    def _absorb(self, queue: WorkQueue[ClusterKey], key: ClusterKey, outcome: Outcome) -> None:
        for body in outcome.written:
            kind = body.get("kind")
            if kind == "KubeDirectorCluster":
                changed = self.caches.store_cluster(body)
                if changed:
                    # Its watch echo finds this version cached and marks nothing: the
                    # clusters connected to it hear of the write now.
                    self._mark_connected_to(key)
            elif kind == "Pod":
                changed = self.caches.store_pod(body) is not None
            else:
                changed = self.caches.store_child(body) is not None
            if self._echoes(body):
                # The liveness probe expects its watch event; so does the next reconcile,
                # unless the echo came already (it found the cache older and marked).
                self.health.wrote(str(kind), body)
                if changed:
                    self._await_echo(key, body)
        for body in outcome.read_configmaps:
            self.caches.store_configmap_content(body)
        if outcome.forget:
            queue.forget(key)
            self._failures.pop(key, None)
            return
        if outcome.failed:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            backoff = min(self.options.runtime.error_backoff * 2 ** (failures - 1), 300.0)
            delay = min(outcome.requeue_after or backoff, backoff)
            queue.mark_later(key, delay)
            return
        self._failures.pop(key, None)
        if outcome.requeue_after is not None:
            queue.mark_later(key, outcome.requeue_after)

    async def run(self, stop_flag: asyncio.Event | None = None) -> None:
        """Run until ``stop_flag`` is set or a signal stops kopf."""
        configuration = self.api.api_client.configuration
        self.queue = queue = WorkQueue[ClusterKey](self.telemetry)
        await self.prime()
        await self.start_config_watch()
        await self.start_node_usage()
        self.health.ready()
        for key in list(self.caches.clusters):
            self.mark(key)
        workers = [asyncio.create_task(self._work(queue)) for _ in range(self.options.workers)]
        workers.append(asyncio.create_task(self.resync_after(RESYNC_AFTER)))
        namespaces = list(self.options.namespaces)
        registry = self.registry(configuration)
        settings = operator_settings(self.options)
        try:
            await kopf.operator(
                registry=registry,
                settings=settings,
                standalone=True,
                clusterwide=not namespaces,
                namespaces=namespaces,
                stop_flag=stop_flag,
            )
        finally:
            await queue.close()
            if self._usage_watch is not None:
                self._usage_watch.stop()
            if self._config_watch is not None:
                self._config_watch.stop()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.reconciler.close()
            self._threads.shutdown(wait=False, cancel_futures=True)


def _register(
    registry: kopf.OperatorRegistry,
    resource: tuple[str, str, str],
    labels: Mapping[str, Any] | None,
    handler: Callable[[str | None, Mapping[str, Any]], None],
) -> None:
    """Register ``handler`` for every event of ``resource`` (its initial listing included).

    One handler per event: an index handler as well would be called on every
    event too, and it would hold the event handlers back until every kind was
    listed, which :meth:`Operator.prime` has made unnecessary.
    """
    group, version, plural = resource

    async def on_event(event: Mapping[str, Any], **_: Any) -> None:
        handler(event.get("type"), event["object"])

    kopf.on.event(group, version, plural, id=f"{plural}-event", labels=labels, registry=registry)(
        on_event
    )


def build_operator(options: OperatorOptions, *, planner: Planner | None = None) -> Operator:
    """Load the credentials and plugins and assemble an :class:`Operator`."""
    configuration = load_configuration(options.kubeconfig, options.context)
    api = KubeApi(client.ApiClient(configuration))
    return Operator(options, api, load_hooks(), planner=planner)


def serve_http(operator: Operator) -> list[HttpServer]:
    """Start the probe and metrics servers the options ask for (threads; they answer at once)."""
    options, servers = operator.options, []
    if options.metrics_address is not None:
        routes = {"/metrics": operator.telemetry.exposition}
        servers.append(HttpServer(options.metrics_address, routes))
    if options.health_address is not None:
        routes = {"/healthz": operator.health.healthz, "/readyz": operator.health.readyz}
        servers.append(HttpServer(options.health_address, routes))
    for server in servers:
        server.start()
    return servers


async def supervise(operator: Operator) -> None:
    """Serve probes, metrics and webhooks, win the Lease if asked to, then run the operator.

    A standby waits in :meth:`LeaderElector.acquire` and starts nothing that
    watches, writes or reconciles. A leader that misses its renew deadline
    exits the process (:func:`~.leader.stop_process`); one that stops
    gracefully (SIGTERM) releases the Lease as its very last step.
    """
    servers = serve_http(operator)
    tending = asyncio.create_task(operator.tend())
    webhooks: WebhookService | None = None
    keeping: asyncio.Task[None] | None = None
    if operator.options.webhook is not None:
        # Every replica answers admission (it only reads), so it starts before the election.
        facts = ApiAdmissionFacts(
            operator.api.api_client,
            operator.options.system_namespace,
            settings=operator.settings,
        )
        webhooks = WebhookService(
            operator.options.webhook, operator.api, facts, plugin_rules=operator.hooks
        )
        keeping = asyncio.create_task(webhooks.run())
    election = operator.options.leader_election
    holding: asyncio.Task[None] | None = None
    try:
        if election is not None:
            operator.elector = elector = LeaderElector(operator.api, election)
            operator.telemetry.leading(election.name, False)
            await elector.acquire()
            operator.telemetry.leading(election.name, True)
            holding = asyncio.create_task(elector.hold(stop_process))
        await operator.run()
    finally:
        tending.cancel()
        if keeping is not None:
            keeping.cancel()
        if webhooks is not None:
            webhooks.stop()
        if holding is not None:
            holding.cancel()
        if operator.elector is not None and operator.elector.is_leader:
            await asyncio.to_thread(operator.elector.release)
        for server in servers:
            server.stop()


def run_operator(options: OperatorOptions) -> None:
    """Run the operator in this process until SIGINT/SIGTERM."""
    operator = build_operator(options)
    try:
        asyncio.run(supervise(operator))
    finally:
        operator.api.api_client.close()  # type: ignore[no-untyped-call]
