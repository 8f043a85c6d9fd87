"""What the runtime knows about the Kubernetes objects it reads and writes.

The labels that tie a child object to its cluster, the finalizer, the field
manager, and the REST path of every kind the operator applies, deletes or
watches. Paths are built here, from a fixed table, so a typo in a kind is an
error naming the kind instead of a 404 from the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kubedirector_core.api import GROUP, VERSION
from kubedirector_core.plan.model import Manifest, ObjectRef

#: Every child object carries this label with its cluster's name.
CLUSTER_LABEL: Final = f"{GROUP}/kdcluster"
#: Pods carry this label with their role's id.
ROLE_LABEL: Final = f"{GROUP}/role"
#: The finalizer the operator adds to every cluster and removes once its children are gone.
FINALIZER: Final = f"{GROUP}/cleanup"
#: The one field manager of every server-side apply.
FIELD_MANAGER: Final = "kubedirector"
#: The component name shown on Events the operator posts.
COMPONENT: Final = "kubedirector"

CLUSTER_API_VERSION: Final = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class Kind:
    """One kind of object: where it lives in the REST API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def collection_path(self, namespace: str | None) -> str:
        """The path of the collection (``.../namespaces/NS/PLURAL``)."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: a namespace is needed")
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None) -> str:
        """The path of one object."""
        return f"{self.collection_path(namespace)}/{name}"


KUBEDIRECTOR_CLUSTER: Final = Kind(
    CLUSTER_API_VERSION, "KubeDirectorCluster", "kubedirectorclusters"
)
KUBEDIRECTOR_APP: Final = Kind(CLUSTER_API_VERSION, "KubeDirectorApp", "kubedirectorapps")
STATEFUL_SET: Final = Kind("apps/v1", "StatefulSet", "statefulsets")
SERVICE: Final = Kind("v1", "Service", "services")
PVC: Final = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
POD: Final = Kind("v1", "Pod", "pods")
CONFIG_MAP: Final = Kind("v1", "ConfigMap", "configmaps")
SECRET: Final = Kind("v1", "Secret", "secrets")
EVENT: Final = Kind("v1", "Event", "events")

_KINDS: Final = {
    (k.api_version, k.kind): k
    for k in (
        KUBEDIRECTOR_CLUSTER,
        KUBEDIRECTOR_APP,
        STATEFUL_SET,
        SERVICE,
        PVC,
        POD,
        CONFIG_MAP,
        SECRET,
        EVENT,
        Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    )
}

#: The kinds of child objects that are watched (by :data:`CLUSTER_LABEL`) and
#: removed when their cluster is deleted, in the order they are removed.
CHILD_KINDS: Final = (STATEFUL_SET, SERVICE, CONFIG_MAP, SECRET, PVC, POD)
#: Child kinds whose live state is cached in full (minus managedFields) for drift checks.
CACHED_CHILD_KINDS: Final = (STATEFUL_SET, SERVICE, CONFIG_MAP, PVC)


def kind_of(api_version: str, kind: str) -> Kind:
    """The :class:`Kind` for ``apiVersion``/``kind``; ``KeyError`` names unknown ones."""
    try:
        return _KINDS[(api_version, kind)]
    except KeyError:
        raise KeyError(f"the operator does not know how to write {api_version} {kind}") from None


def ref_of(manifest: Manifest, default_namespace: str | None = None) -> ObjectRef:
    """The :class:`ObjectRef` naming ``manifest`` (its namespace defaults to the cluster's)."""
    metadata = manifest.get("metadata") or {}
    namespace = metadata.get("namespace") or default_namespace
    if not kind_of(manifest["apiVersion"], manifest["kind"]).namespaced:
        namespace = None
    return ObjectRef(manifest["apiVersion"], manifest["kind"], metadata["name"], namespace)


def path_of(ref: ObjectRef) -> str:
    """The REST path of the object ``ref`` names."""
    return kind_of(ref.api_version, ref.kind).object_path(ref.name, ref.namespace)


def resource_version(body: Any) -> str | None:
    """The object's ``metadata.resourceVersion``, if it has one."""
    if not isinstance(body, dict):
        return None
    value = (body.get("metadata") or {}).get("resourceVersion")
    return value if isinstance(value, str) else None


def is_newer(incoming: Any, cached: Any) -> bool:
    """True unless ``cached`` is known to be a later version of the object than ``incoming``.

    Resource versions are opaque strings in the API's contract but etcd
    revisions in practice; where both parse as integers an older one (an
    event delivered after the operator already stored its own write's
    response) is refused, otherwise the incoming one wins.
    """
    new, old = resource_version(incoming), resource_version(cached)
    if new is None or old is None:
        return True
    try:
        return int(new) >= int(old)
    except ValueError:
        return True
