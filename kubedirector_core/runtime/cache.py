"""Watch-fed caches: the operator's picture of the cluster, as plain dicts.

Fed by kopf's watch events (``store_*`` on each event, ``drop_*`` on a
deletion) and by the responses to the operator's own writes, so a reconcile
never sees an older version of an object than one it wrote. Each entry keeps
only what the reconcile needs: ``managedFields`` and kopf's annotations are
dropped, Secrets keep only their names and versions, Pods become
:class:`~kubedirector_core.plan.model.ObservedPod`.

Only the event loop thread touches a :class:`Caches`; the reconcile workers
get an immutable snapshot (:meth:`Caches.snapshot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from kubedirector_core.api.quantity import parse_quantity
from kubedirector_core.plan.model import (
    GANG_GATE,
    UNREACHABLE_TAINT,
    Manifest,
    ObjectRef,
    ObservedNode,
    ObservedPod,
    Taint,
)
from kubedirector_core.plan.names import label_value
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.runtime.objects import CLUSTER_LABEL, ROLE_LABEL, is_newer, resource_version

#: (namespace, name) of a KubeDirectorCluster.
ClusterKey = tuple[str, str]
#: (namespace, value of the cluster label) of a child object; see :func:`label_key`.
LabelKey = tuple[str, str]

_KOPF_PREFIX = "kopf.zalando.org/"


def trim(body: Mapping[str, Any]) -> Manifest:
    """A copy of ``body`` without ``managedFields`` and kopf's annotations."""
    trimmed = dict(body)
    metadata = dict(trimmed.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations and any(key.startswith(_KOPF_PREFIX) for key in annotations):
        metadata["annotations"] = {
            key: value for key, value in annotations.items() if not key.startswith(_KOPF_PREFIX)
        }
    trimmed["metadata"] = metadata
    return trimmed


def _amount(name: str, value: Any) -> float:
    try:
        return float(parse_quantity(value))
    except (ValueError, ArithmeticError, TypeError):
        return 0.0


def _quantities(resources: Mapping[str, Any] | None) -> dict[str, float]:
    return {name: _amount(name, value) for name, value in (resources or {}).items()}


def pod_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """A pod's effective requests, as the scheduler counts them.

    The sum over its containers (a request defaulting to its limit), or the
    largest init container's request where that is larger.
    """
    total: dict[str, float] = {}
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        wanted = {**_quantities(resources.get("limits")), **_quantities(resources.get("requests"))}
        for name, amount in wanted.items():
            total[name] = total.get(name, 0.0) + amount
    for container in spec.get("initContainers") or []:
        resources = container.get("resources") or {}
        wanted = {**_quantities(resources.get("limits")), **_quantities(resources.get("requests"))}
        for name, amount in wanted.items():
            total[name] = max(total.get(name, 0.0), amount)
    return total


def _same_version(incoming: Mapping[str, Any], cached: Mapping[str, Any] | None) -> bool:
    """True when ``cached`` is the very version ``incoming`` is (both carry the same one)."""
    if cached is None:
        return False
    version = resource_version(incoming)
    return version is not None and version == resource_version(cached)


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def observed_pod(body: Mapping[str, Any]) -> ObservedPod:
    """What the planner needs of a Pod (its main container is the first one)."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    containers = spec.get("containers") or [{}]
    main = containers[0].get("name")
    statuses = status.get("containerStatuses") or []
    container = next((s for s in statuses if s.get("name") == main), None)
    container_id: str | None = None
    if container is not None:
        container_id = container.get("containerID") or (
            f"{metadata.get('uid')}/{container.get('restartCount', 0)}"
        )
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return ObservedPod(
        name=metadata.get("name", ""),
        role_id=(metadata.get("labels") or {}).get(ROLE_LABEL, ""),
        uid=metadata.get("uid", ""),
        node_name=spec.get("nodeName"),
        phase=status.get("phase"),
        ready=ready,
        container_id=container_id,
        ip=status.get("podIP"),
        deleting=bool(metadata.get("deletionTimestamp")),
        gated=any(g.get("name") == GANG_GATE for g in spec.get("schedulingGates") or []),
        requests=pod_requests(spec),
    )


def observed_node(body: Mapping[str, Any]) -> ObservedNode:
    """A Node's readiness, reachability and labels."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    condition: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    taints = tuple(
        Taint(t.get("key", ""), t.get("value") or "", t.get("effect") or "NoSchedule")
        for t in spec.get("taints") or []
    )
    return ObservedNode(
        name=metadata.get("name", ""),
        ready=condition.get("status") == "True",
        unreachable=any(t.key == UNREACHABLE_TAINT for t in taints),
        labels=dict(metadata.get("labels") or {}),
        ready_unknown=condition.get("status") == "Unknown",
        ready_since=_timestamp(condition.get("lastTransitionTime")),
        unschedulable=bool(spec.get("unschedulable")),
        taints=taints,
        allocatable=_quantities(status.get("allocatable")),
    )


def label_key(key: ClusterKey) -> LabelKey:
    """How the children of cluster ``key`` are labelled (long names are shortened)."""
    return (key[0], label_value(key[1]))


def owning_cluster(body: Mapping[str, Any]) -> LabelKey | None:
    """The label of the cluster a child object belongs to; ``None`` for strays."""
    metadata = body.get("metadata") or {}
    name = (metadata.get("labels") or {}).get(CLUSTER_LABEL)
    namespace = metadata.get("namespace")
    return (namespace, name) if name and namespace else None


def ref_from_body(body: Mapping[str, Any]) -> ObjectRef:
    """The :class:`ObjectRef` of a live object."""
    metadata = body.get("metadata") or {}
    return ObjectRef(body["apiVersion"], body["kind"], metadata["name"], metadata.get("namespace"))


@dataclass(frozen=True)
class Snapshot:
    """What one reconcile of one cluster may look at, copied out of the caches."""

    key: ClusterKey
    cluster: Manifest | None
    app: Manifest | None
    pods: Mapping[str, ObservedPod]
    children: Mapping[ObjectRef, Manifest]
    nodes: Mapping[str, ObservedNode]
    connected_clusters: Mapping[str, Manifest]
    connected_apps: Mapping[str, Manifest]
    connected_config_versions: Mapping[str, str]
    storage_classes: frozenset[str]
    default_storage_class: str | None
    #: The operator's KubeDirectorConfig (built-in values without one).
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    #: The connected ConfigMaps whose content is cached, by name (see
    #: :attr:`Caches.configmap_content`); one with a version but no content is read.
    connected_configmaps: Mapping[str, Manifest] = field(default_factory=dict)


@dataclass
class Caches:
    """Everything watched, keyed for the reconcile's lookups."""

    system_namespace: str | None = None
    clusters: dict[ClusterKey, Manifest] = field(default_factory=dict)
    apps: dict[tuple[str, str], Manifest] = field(default_factory=dict)
    #: Children and pods are filed under their cluster's :func:`label_key`.
    children: dict[LabelKey, dict[ObjectRef, Manifest]] = field(default_factory=dict)
    pods: dict[LabelKey, dict[str, ObservedPod]] = field(default_factory=dict)
    pod_versions: dict[tuple[str, str], str] = field(default_factory=dict)
    nodes: dict[str, ObservedNode] = field(default_factory=dict)
    #: What the pods bound to each node request (see :mod:`~kubedirector_core.runtime.nodeusage`),
    #: kept apart so that a Node event does not lose it; copied into ``nodes[...].used``.
    node_used: dict[str, Mapping[str, float]] = field(default_factory=dict)
    storage_classes: dict[str, bool] = field(default_factory=dict)
    #: ``(namespace, "ConfigMap"|"Secret", name) -> resourceVersion`` (never their data).
    config_versions: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: ``(namespace, name) ->`` the name, version, labels, annotations and data of each
    #: ConfigMap some cluster connects, for configmeta; no other ConfigMap's data is kept
    #: (memory stays bounded by what clusters connect). Secrets' data is never cached.
    configmap_content: dict[tuple[str, str], Manifest] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The latest KubeDirectorConfig (``kd-global-config``), as settings.
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    #: ``(kind, namespace, name) -> (resourceVersion, uid, labels)`` of every object seen,
    #: for the resync that drops objects deleted while the watches were starting.
    seen: dict[tuple[str, str, str], tuple[str, str, dict[str, str]]] = field(default_factory=dict)

    # -- what was seen, for the resync --------------------------------------------

    def track(self, kind: str, event: str | None, body: Mapping[str, Any]) -> None:
        """Remember (or, on ``DELETED``, forget) the object's version, uid and labels."""
        metadata = body.get("metadata") or {}
        key = (kind, metadata.get("namespace") or "", metadata.get("name", ""))
        if event == "DELETED":
            self.seen.pop(key, None)
            return
        self.seen[key] = (
            str(metadata.get("resourceVersion") or ""),
            str(metadata.get("uid") or ""),
            dict(metadata.get("labels") or {}),
        )

    def absent(
        self,
        kind: str,
        present: set[tuple[str, str]],
        version: str | None,
        listed_namespace: str | None = None,
    ) -> list[tuple[str, str]]:
        """Objects of ``kind`` cached but missing from a LIST at ``version``, and older than it.

        ``listed_namespace`` is the namespace the LIST covered (``None``: every
        namespace): objects of other namespaces are never judged by it.
        """
        stale = []
        for (seen_kind, namespace, name), (seen_version, _, _) in self.seen.items():
            if seen_kind != kind or (namespace, name) in present:
                continue
            if listed_namespace is not None and namespace != listed_namespace:
                continue
            try:
                older = version is not None and int(seen_version) <= int(version)
            except ValueError:
                older = False
            if older:
                stale.append((namespace, name))
        return stale

    def labels_of(self, kind: str, key: tuple[str, str]) -> dict[str, str]:
        """The labels the object ``key`` had when last seen."""
        return self.seen.get((kind, *key), ("", "", {}))[2]

    def uid_of(self, kind: str, key: tuple[str, str]) -> str:
        """The uid the object ``key`` had when last seen."""
        return self.seen.get((kind, *key), ("", "", {}))[1]

    # -- clusters and apps --------------------------------------------------------

    def store_cluster(self, body: Mapping[str, Any]) -> bool:
        """Keep the cluster unless this or a later version is cached; True when stored."""
        metadata = body.get("metadata") or {}
        key = (metadata.get("namespace", ""), metadata.get("name", ""))
        cached = self.clusters.get(key)
        if not is_newer(body, cached) or _same_version(body, cached):
            return False
        self.clusters[key] = trim(body)
        dropped = _connected_configmaps(cached) - _connected_configmaps(body)
        if dropped:
            self._forget_disconnected(key[0], dropped)
        return True

    def drop_cluster(self, key: ClusterKey) -> None:
        """Forget a deleted cluster (and the content of ConfigMaps only it connected)."""
        old = self.clusters.pop(key, None)
        self._forget_disconnected(key[0], _connected_configmaps(old))

    def store_app(self, body: Mapping[str, Any]) -> bool:
        """Keep an app definition unless this or a later version is cached; True when stored."""
        metadata = body.get("metadata") or {}
        key = (metadata.get("namespace", ""), metadata.get("name", ""))
        cached = self.apps.get(key)
        if not is_newer(body, cached) or _same_version(body, cached):
            return False
        self.apps[key] = trim(body)
        return True

    def drop_app(self, namespace: str, name: str) -> None:
        """Forget a deleted app."""
        self.apps.pop((namespace, name), None)

    def app_for(self, namespace: str, name: str) -> Manifest | None:
        """The app a cluster in ``namespace`` names: its own namespace's, else the system one."""
        app = self.apps.get((namespace, name))
        if app is None and self.system_namespace:
            app = self.apps.get((self.system_namespace, name))
        return app

    def clusters_using_app(self, namespace: str, name: str) -> Iterator[ClusterKey]:
        """The clusters that name the app ``namespace/name``."""
        everywhere = namespace == self.system_namespace
        for key, cluster in self.clusters.items():
            if (everywhere or key[0] == namespace) and (cluster.get("spec") or {}).get(
                "app"
            ) == name:
                yield key

    def clusters_connected_to(self, namespace: str, kind: str, name: str) -> Iterator[ClusterKey]:
        """The clusters whose ``spec.connections`` name this cluster, ConfigMap or Secret."""
        field_name = {"KubeDirectorCluster": "clusters", "ConfigMap": "configmaps"}.get(
            kind, "secrets"
        )
        for key, cluster in self.clusters.items():
            if key[0] != namespace:
                continue
            connections = (cluster.get("spec") or {}).get("connections") or {}
            if name in (connections.get(field_name) or []):
                yield key

    # -- children -----------------------------------------------------------------

    def cluster_for(self, key: LabelKey) -> ClusterKey:
        """The cluster whose children carry the label ``key`` (the label itself if unknown)."""
        if (key[0], key[1]) in self.clusters:
            return key
        for cluster_key in self.clusters:
            if cluster_key[0] == key[0] and label_value(cluster_key[1]) == key[1]:
                return cluster_key
        return key

    def store_child(self, body: Mapping[str, Any]) -> LabelKey | None:
        """Keep a child object under its cluster; return that cluster if the cache changed.

        ``None`` when the object belongs to no cluster, or when the cache
        already holds this version of it or a later one: a snapshot taken
        now is then the same as one taken before, so no reconcile is owed.
        """
        key = owning_cluster(body)
        if key is None:
            return None
        ref = ref_from_body(body)
        children = self.children.setdefault(key, {})
        cached = children.get(ref)
        if not is_newer(body, cached) or _same_version(body, cached):
            return None
        children[ref] = trim(body)
        return key

    def drop_child(self, body: Mapping[str, Any]) -> LabelKey | None:
        """Forget a deleted child object; return its cluster."""
        key = owning_cluster(body)
        if key is not None:
            children = self.children.get(key, {})
            children.pop(ref_from_body(body), None)
            if not children:
                self.children.pop(key, None)
        return key

    def store_pod(self, body: Mapping[str, Any]) -> LabelKey | None:
        """Keep a member's pod; return its cluster if what the planner sees of it changed.

        ``None`` when the pod belongs to no cluster, is older than the cached
        version, or makes the same :class:`ObservedPod` as the cached one (a
        snapshot holds only that, so it would not change).
        """
        key = owning_cluster(body)
        if key is None:
            return None
        name = body["metadata"]["name"]
        version_key = (key[0], name)
        if not is_newer(
            body, {"metadata": {"resourceVersion": self.pod_versions.get(version_key)}}
        ):
            return None
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.pod_versions[version_key] = rv
        pods = self.pods.setdefault(key, {})
        pod = observed_pod(body)
        if pods.get(name) == pod:
            return None
        pods[name] = pod
        return key

    def drop_pod(self, body: Mapping[str, Any]) -> LabelKey | None:
        """Forget a deleted pod; return its cluster."""
        key = owning_cluster(body)
        if key is not None:
            name = body["metadata"]["name"]
            pods = self.pods.get(key, {})
            pod = pods.get(name)
            if pod is not None and pod.uid == (body.get("metadata") or {}).get("uid"):
                pods.pop(name, None)
                self.pod_versions.pop((key[0], name), None)
            if not pods:
                self.pods.pop(key, None)
        return key

    def clusters_waiting_for_capacity(self) -> Iterator[ClusterKey]:
        """The clusters with a gang-gated pod: capacity freed or added may admit them."""
        for key, pods in self.pods.items():
            if any(pod.gated for pod in pods.values()):
                yield self.cluster_for(key)

    def clusters_on_node(self, node: str) -> Iterator[ClusterKey]:
        """The clusters with a pod on ``node``."""
        for key, pods in self.pods.items():
            if any(pod.node_name == node for pod in pods.values()):
                yield self.cluster_for(key)

    def has_children(self, key: ClusterKey) -> bool:
        """True while any child object or pod of the cluster is still cached."""
        labelled = label_key(key)
        return bool(self.children.get(labelled)) or bool(self.pods.get(labelled))

    # -- cluster-scoped and connected objects -------------------------------------

    def store_node(self, body: Mapping[str, Any]) -> bool:
        """Keep a Node; True when its health (as the planner sees it) changed."""
        node = observed_node(body)
        used = self.node_used.get(node.name)
        if used:
            node = replace(node, used=used)
        previous = self.nodes.get(node.name)
        self.nodes[node.name] = node
        return previous != node

    def set_node_used(self, name: str, used: Mapping[str, float]) -> None:
        """Record what the pods on node ``name`` request (its Node may not be cached yet)."""
        if used:
            self.node_used[name] = used
        else:
            self.node_used.pop(name, None)
        node = self.nodes.get(name)
        if node is not None and node.used != used:
            self.nodes[name] = replace(node, used=used)

    def store_storage_class(self, body: Mapping[str, Any]) -> None:
        """Keep a StorageClass's name and whether it is the default."""
        metadata = body.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        default = annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
        self.storage_classes[metadata.get("name", "")] = default

    def store_config(self, body: Mapping[str, Any], kind: str) -> bool:
        """Keep a ConfigMap's or Secret's version (only); True when it changed."""
        metadata = body.get("metadata") or {}
        key = (metadata.get("namespace", ""), kind, metadata.get("name", ""))
        version = str(metadata.get("resourceVersion", ""))
        changed = self.config_versions.get(key) != version
        self.config_versions[key] = version
        return changed

    def store_configmap_content(
        self, body: Mapping[str, Any], *, connected: bool | None = None
    ) -> None:
        """Keep a ConfigMap's content if some cluster connects it, else forget it.

        ``connected`` says whether one does when the caller knows already. A
        body older than the version the watch last delivered (a reconcile's
        read racing an update) is not kept.
        """
        metadata = body.get("metadata") or {}
        namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
        if connected is None:
            connected = any(self.clusters_connected_to(namespace, "ConfigMap", name))
        if not connected:
            self.configmap_content.pop((namespace, name), None)
            return
        latest = self.config_versions.get((namespace, "ConfigMap", name))
        # Unknown to the watch (deleted meanwhile) or older than what it delivered: not kept.
        if latest is None or not is_newer(body, {"metadata": {"resourceVersion": latest}}):
            return
        self.configmap_content[(namespace, name)] = {
            "metadata": {
                key: metadata[key]
                for key in ("name", "namespace", "resourceVersion", "labels", "annotations")
                if key in metadata
            },
            **({"data": body["data"]} if "data" in body else {}),
        }

    def _forget_disconnected(self, namespace: str, names: Iterable[str]) -> None:
        for name in names:
            if (namespace, name) in self.configmap_content and not any(
                self.clusters_connected_to(namespace, "ConfigMap", name)
            ):
                del self.configmap_content[(namespace, name)]

    def store_settings(self, settings: OperatorSettings) -> bool:
        """Keep the operator's settings; True when they changed."""
        changed = settings != self.settings
        self.settings = settings
        return changed

    # -- the reconcile's view -----------------------------------------------------

    def snapshot(self, key: ClusterKey) -> Snapshot:
        """An immutable view of everything the reconcile of ``key`` may look at."""
        namespace = key[0]
        cluster = self.clusters.get(key)
        spec = (cluster or {}).get("spec") or {}
        app_name = spec.get("app")
        connections = spec.get("connections") or {}
        connected = {
            name: self.clusters[(namespace, name)]
            for name in connections.get("clusters") or []
            if (namespace, name) in self.clusters
        }
        connected_apps = {
            name: app
            for name, body in connected.items()
            if (app := self.app_for(namespace, (body.get("spec") or {}).get("app") or ""))
            is not None
        }
        versions: dict[str, str] = {}
        for kind, field_name in (("ConfigMap", "configmaps"), ("Secret", "secrets")):
            for name in connections.get(field_name) or []:
                version = self.config_versions.get((namespace, kind, name))
                if version is not None:
                    versions[f"{kind}/{name}"] = version
        configmaps = {
            name: content
            for name in connections.get("configmaps") or []
            if (content := self.configmap_content.get((namespace, name))) is not None
        }
        defaults = [name for name, is_default in self.storage_classes.items() if is_default]
        return Snapshot(
            key=key,
            cluster=cluster,
            app=self.app_for(namespace, app_name) if isinstance(app_name, str) else None,
            pods=dict(self.pods.get(label_key(key), {})),
            children=dict(self.children.get(label_key(key), {})),
            nodes=dict(self.nodes),
            connected_clusters=connected,
            connected_apps=connected_apps,
            connected_config_versions=versions,
            storage_classes=frozenset(self.storage_classes),
            default_storage_class=sorted(defaults)[0] if defaults else None,
            settings=self.settings,
            connected_configmaps=configmaps,
        )


def _connected_configmaps(cluster: Mapping[str, Any] | None) -> set[str]:
    """The ConfigMap names a cluster's ``spec.connections`` names."""
    connections = ((cluster or {}).get("spec") or {}).get("connections") or {}
    return set(connections.get("configmaps") or [])
