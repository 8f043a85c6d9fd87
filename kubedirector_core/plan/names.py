"""Names and labels of the objects the operator creates for a cluster.

Names follow the original KubeDirector: a headless Service per cluster, a
StatefulSet per role (pods are ``<statefulset>-<ordinal>``), a Service per
member, a claim ``p-<pod>`` per member with storage. The original lets the
API server append a random 5-character suffix (``generateName``); the planner
must be pure, so the suffix here is derived from the cluster's uid (or
namespace and name when it has none) and the role id. A name once recorded in
the cluster's status (``clusterService``, ``roles[].statefulSet``) is kept,
so clusters created by the original keep their objects.

Lengths: the name part taken from the cluster and role is cut to 46
characters (as the original does), so a StatefulSet name has at most 52, a
pod name at most 57 (ordinals below 1000), a member Service ``s-<pod>`` or a
claim ``p-<pod>`` at most 59, and the pods' ``controller-revision-hash``
label (``<statefulset>-<10 chars>``) at most 63: all fit DNS labels.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from kubedirector_core.api import KubeDirectorCluster

DOMAIN: Final = "kubedirector.hpe.com"

#: Every child carries this label with the cluster's name (see :func:`label_value`).
CLUSTER_LABEL: Final = f"{DOMAIN}/kdcluster"
#: Pods (and role-level objects) carry this label with their role id.
ROLE_LABEL: Final = f"{DOMAIN}/role"
APP_LABEL: Final = f"{DOMAIN}/kdapp"
APP_CATALOG_LABEL: Final = f"{DOMAIN}/appCatalog"
#: The headless Service selects the cluster's pods by this label.
HEADLESS_LABEL: Final = f"{DOMAIN}/headless"
APP_ANNOTATION: Final = f"{DOMAIN}/kdapp-prettyName"
#: The member Services select their pod by the label the StatefulSet controller sets.
POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"

K8S_NAME: Final = "app.kubernetes.io/name"
K8S_INSTANCE: Final = "app.kubernetes.io/instance"
K8S_COMPONENT: Final = "app.kubernetes.io/component"
K8S_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGER: Final = "kubedirector"

#: The longest part of a name taken from the cluster and role names (as the original).
NAME_PART_LIMIT: Final = 46
#: The longest label value and DNS label.
LABEL_LIMIT: Final = 63

STATEFULSET_PREFIX: Final = "kdss-"
HEADLESS_PREFIX: Final = "kdhs-"
SERVICE_PREFIX: Final = "s-"
#: The name of the volume claim template; claims are named ``p-<pod>``.
PVC_TEMPLATE: Final = "p"
#: The app container's name, where in-container actions run.
APP_CONTAINER: Final = "app"
INIT_CONTAINER: Final = "init"
CLUSTER_DOMAIN: Final = "svc.cluster.local"

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def mung(name: str) -> str:
    """Cut ``name`` to 46 characters, lower-cased, with ``.`` and ``_`` turned into ``-``.

    Trailing dashes left by the cut are removed, so the result can be followed
    by ``-<suffix>``.
    """
    cut = name[:NAME_PART_LIMIT].lower().replace(".", "-").replace("_", "-")
    return cut.rstrip("-") or "kd"


def suffix(*parts: str) -> str:
    """A stable 5-character suffix from ``parts``, in Kubernetes' generated-name alphabet."""
    digest = int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def cluster_identity(cluster: KubeDirectorCluster) -> str:
    """What generated names derive from: the uid, else ``namespace/name`` (offline)."""
    return cluster.metadata.uid or f"{cluster.namespace or ''}/{cluster.name}"


def naming_scheme(cluster: KubeDirectorCluster) -> str:
    """The cluster's naming scheme, ``CrNameRole`` when unset (KubeDirector's default)."""
    return cluster.spec.naming_scheme or "CrNameRole"


def headless_service_name(cluster: KubeDirectorCluster) -> str:
    """The cluster's headless Service: the recorded one, else a stable generated name."""
    recorded = cluster.status.cluster_service if cluster.status else None
    if recorded:
        return recorded
    tail = suffix(cluster_identity(cluster), "headless")
    if naming_scheme(cluster) == "UID":
        return HEADLESS_PREFIX + tail
    return f"{mung(cluster.name)}-{tail}"


def statefulset_name(cluster: KubeDirectorCluster, role_id: str) -> str:
    """The role's StatefulSet: the recorded one, else a stable generated name."""
    for role_status in (cluster.status.roles or []) if cluster.status else []:
        if role_status.id == role_id and role_status.stateful_set:
            return role_status.stateful_set
    tail = suffix(cluster_identity(cluster), "role", role_id)
    if naming_scheme(cluster) == "UID":
        return STATEFULSET_PREFIX + tail
    return f"{mung(f'{cluster.name}-{role_id}')}-{tail}"


def pod_name(statefulset: str, ordinal: int) -> str:
    """The pod of ``ordinal`` in ``statefulset`` (as the StatefulSet controller names it)."""
    return f"{statefulset}-{ordinal}"


def ordinal_of(pod: str) -> int:
    """The ordinal at the end of a StatefulSet pod's name (-1 when there is none)."""
    tail = pod.rpartition("-")[2]
    return int(tail) if tail.isdigit() else -1


def member_service_name(cluster: KubeDirectorCluster, pod: str) -> str:
    """The member's Service: the pod's name (CrNameRole) or ``s-<pod>`` (UID)."""
    return SERVICE_PREFIX + pod if naming_scheme(cluster) == "UID" else pod


def pvc_name(pod: str) -> str:
    """The claim the StatefulSet controller creates for ``pod`` from the template ``p``."""
    return f"{PVC_TEMPLATE}-{pod}"


def domain(
    cluster: KubeDirectorCluster, service: str | None = None, *, base: str = CLUSTER_DOMAIN
) -> str:
    """The DNS domain of the members: ``<headless>.<namespace>.<base>``.

    ``base`` is KubeDirectorConfig's ``clusterSvcDomainBase`` without its
    leading dot (``svc.cluster.local`` by default).
    """
    headless = service or headless_service_name(cluster)
    return f"{headless}.{cluster.namespace or 'default'}.{base}"


def fqdn(cluster: KubeDirectorCluster, pod: str, *, base: str = CLUSTER_DOMAIN) -> str:
    """The fully qualified name of a member (``base`` as in :func:`domain`)."""
    return f"{pod}.{domain(cluster, base=base)}"


def recorded_naming_scheme(cluster: KubeDirectorCluster) -> str | None:
    """The naming scheme the cluster's recorded headless Service was named by, if any."""
    recorded = cluster.status.cluster_service if cluster.status else None
    if not recorded:
        return None
    # UID names are the prefix and a 5-character suffix (a cluster named "kdhs" is mistaken).
    uid_form = recorded.startswith(HEADLESS_PREFIX) and len(recorded) == len(HEADLESS_PREFIX) + 5
    return "UID" if uid_form else "CrNameRole"


def label_value(value: str) -> str:
    """``value`` if it is a valid label value, else a valid stable stand-in.

    Cluster names may be 253 characters long but label values only 63; a long
    or odd name becomes its first 52 usable characters, ``-`` and a 10-character
    hash. Map children back to their cluster by ownerReference (or by this
    function), never by parsing the label.
    """
    if len(value) <= LABEL_LIMIT and _LABEL_VALUE.match(value):
        return value
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", value)[:52].strip("-_.")
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{head}-{digest}" if head else digest
