"""The Kubernetes objects of a cluster, as plain wire-form dicts.

One headless Service per cluster; per role one StatefulSet (Parallel pod
management, ``serviceName`` the headless Service) and, when the role's
services expose ports, one Service per member of the cluster's
``serviceType``. Members with ``storage`` get a claim from the volume claim
template ``p``, and an init container that copies the role's persistent
directories (``/etc`` always, plus the setup layout's and the app's) onto it
on first start, marked done by ``/etc/kubedirector.init`` on the volume, as
the original does. Every function is pure and its output stable: mappings
are emitted with sorted keys, lists in a fixed order.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kubedirector_core.api import (
    API_VERSION,
    AppRole,
    ClusterRole,
    KubeDirectorApp,
    KubeDirectorCluster,
    parse_quantity,
)
from kubedirector_core.api.cluster import KDSecret
from kubedirector_core.plan import names
from kubedirector_core.plan.model import Manifest
from kubedirector_core.plan.settings import TEMPLATE_ANNOTATION, TemplateSettings

#: Directories always kept on a member's volume.
DEFAULT_PERSIST_DIRS: Final = ("/etc",)
#: Also kept when the role has a setup package using the new layout.
NEW_LAYOUT_PERSIST_DIRS: Final = (
    "/etc",
    "/opt/guestconfig",
    "/var/log/guestconfig",
    "/usr/local/bin",
    "/usr/local/lib",
)
#: Also kept when the role has a setup package using the legacy layout.
LEGACY_LAYOUT_PERSIST_DIRS: Final = ("/etc", "/opt", "/usr")
#: Marks a volume whose directories were copied (relative to the volume's root).
INIT_MARKER: Final = "/etc/kubedirector.init"
TMPFS_SIZE: Final = "20Gi"
HEADLESS_PORT: Final = 8888
DEFAULT_SERVICE_TYPE: Final = "NodePort"
NVIDIA_PREFIX: Final = "nvidia.com/"
CGROUP_DIR: Final = "/sys/fs/cgroup"


@dataclass(frozen=True)
class RoleSpec:
    """A role as rendering needs it: the cluster's spec, the app's resolved role, the count."""

    cluster_role: ClusterRole
    app_role: AppRole
    members: int

    @property
    def id(self) -> str:
        """The role id."""
        return self.cluster_role.id


def role_specs(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> list[RoleSpec]:
    """The cluster's roles that exist in the app, with defaults applied, in spec order."""
    specs = []
    for cluster_role in cluster.spec.roles:
        app_role = app.resolved_role(cluster_role.id)
        if app_role is None:
            continue
        members = cluster_role.members
        specs.append(
            RoleSpec(cluster_role, app_role, app_role.min_members if members is None else members)
        )
    return specs


# ---------------------------------------------------------------------------
# Labels, annotations, owner


def cluster_labels(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> dict[str, str]:
    """Labels of every child of the cluster."""
    labels = {
        names.CLUSTER_LABEL: names.label_value(cluster.name),
        names.APP_LABEL: names.label_value(cluster.spec.app),
        names.K8S_NAME: names.label_value(app.name or cluster.spec.app),
        names.K8S_INSTANCE: names.label_value(cluster.name),
        names.K8S_MANAGED_BY: names.MANAGER,
    }
    if cluster.spec.app_catalog:
        labels[names.APP_CATALOG_LABEL] = cluster.spec.app_catalog
    return labels


def role_labels(app: KubeDirectorApp, cluster: KubeDirectorCluster, role_id: str) -> dict[str, str]:
    """Labels of a role's objects (StatefulSet, pods, member Services, claims)."""
    return {
        **cluster_labels(app, cluster),
        names.ROLE_LABEL: role_id,
        names.K8S_COMPONENT: names.label_value(role_id),
    }


def pod_selector(cluster: KubeDirectorCluster, role_id: str) -> dict[str, str]:
    """The StatefulSet's selector: fixed labels only, so that it never has to change."""
    return {
        names.CLUSTER_LABEL: names.label_value(cluster.name),
        names.HEADLESS_LABEL: names.label_value(cluster.name),
        names.ROLE_LABEL: role_id,
    }


def cluster_annotations(app: KubeDirectorApp) -> dict[str, str]:
    """Annotations of every child: the app's display name."""
    return {names.APP_ANNOTATION: app.spec.label.name}


def owner_references(cluster: KubeDirectorCluster) -> list[dict[str, Any]]:
    """The cluster as controller of a child; empty when the cluster has no uid (offline)."""
    if not cluster.metadata.uid:
        return []
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "KubeDirectorCluster",
            "name": cluster.name,
            "uid": cluster.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]


def _metadata(
    cluster: KubeDirectorCluster,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if cluster.namespace:
        metadata["namespace"] = cluster.namespace
    owners = owner_references(cluster)
    if owners:
        metadata["ownerReferences"] = owners
    return metadata


# ---------------------------------------------------------------------------
# Services


@dataclass(frozen=True)
class PortInfo:
    """A service endpoint of a role: the service id, its port and URL scheme."""

    id: str
    port: int
    url_scheme: str | None

    @property
    def service_port_name(self) -> str:
        """The port's name in a member Service, as the original names it."""
        scheme = (self.url_scheme or "").lower()
        return f"{scheme}-{self.id}" if scheme else f"generic-{self.id}"


def role_ports(app: KubeDirectorApp, role_id: str) -> list[PortInfo]:
    """The endpoints of the services the role runs, in the app's order of roleServices."""
    services = {service.id: service for service in app.spec.services or []}
    ports: list[PortInfo] = []
    for role_services in app.spec.config.role_services:
        if role_services.role_id != role_id:
            continue
        for service_id in role_services.service_ids:
            service = services.get(service_id)
            if service is None or service.endpoint is None:
                continue
            endpoint = service.endpoint
            ports.append(PortInfo(service_id, endpoint.port, endpoint.url_scheme))
    return ports


def headless_service(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> Manifest:
    """The cluster's headless Service: DNS names for every member, ready or not."""
    name = names.headless_service_name(cluster)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(
            cluster, name, cluster_labels(app, cluster), cluster_annotations(app)
        ),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {names.HEADLESS_LABEL: names.label_value(cluster.name)},
            # A headless Service needs a port to get endpoints; it is never used.
            "ports": [{"name": "port", "port": HEADLESS_PORT, "protocol": "TCP"}],
        },
    }


def member_service(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: RoleSpec,
    pod: str,
    *,
    config_labels: Mapping[str, str] | None = None,
    config_annotations: Mapping[str, str] | None = None,
) -> Manifest | None:
    """The member's Service of the cluster's serviceType, or None when the role has no ports.

    Its labels and annotations are the role's ``serviceLabels`` and
    ``serviceAnnotations``, then KubeDirectorConfig's (``config_labels``,
    ``config_annotations``), which win as in KubeDirector; the labels the
    operator finds its children by win over both.
    """
    ports = role_ports(app, role.id)
    if not ports:
        return None
    own = role_labels(app, cluster, role.id)
    labels = {**own, **(role.cluster_role.service_labels or {}), **(config_labels or {})}
    labels.update({key: own[key] for key in (names.CLUSTER_LABEL, names.ROLE_LABEL)})
    annotations = {
        **cluster_annotations(app),
        **(role.cluster_role.service_annotations or {}),
        **(config_annotations or {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(
            cluster, names.member_service_name(cluster, pod), labels, annotations
        ),
        "spec": {
            "type": cluster.spec.service_type or DEFAULT_SERVICE_TYPE,
            "publishNotReadyAddresses": True,
            "selector": {names.POD_NAME_LABEL: pod},
            "ports": [
                {"name": port.service_port_name, "port": port.port, "protocol": "TCP"}
                for port in ports
            ],
        },
    }


# ---------------------------------------------------------------------------
# Persistent directories and volumes


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def persist_dirs(app_role: AppRole) -> list[str]:
    """The directories kept on a member's volume: the layout's defaults, then the app's.

    Like the original: a directory inside another one of the list (or a
    repeat) is left out, since the outer mount carries it.
    """
    package = app_role.config_package
    if package is None:
        defaults: Sequence[str] = DEFAULT_PERSIST_DIRS
    elif package.use_new_setup_layout:
        defaults = NEW_LAYOUT_PERSIST_DIRS
    else:
        defaults = LEGACY_LAYOUT_PERSIST_DIRS
    candidates = [posixpath.normpath(d) for d in (*defaults, *(app_role.persist_dirs or []))]
    chosen: list[str] = []
    for index, directory in enumerate(candidates):
        covered = any(
            _covers(other, directory) and (other != directory or other_index < index)
            for other_index, other in enumerate(candidates)
        )
        if not covered:
            chosen.append(directory)
    return chosen


def init_container_script(directories: Sequence[str]) -> str:
    """The init container's shell script: copy ``directories`` onto the volume once.

    The volume is mounted at ``/mnt``; the copy keeps ownership, modes and
    links (rsync when the image has it, else a tar pipe), and
    ``/mnt/etc/kubedirector.init`` marks it done so a restarted pod keeps
    what its members wrote. A failed copy fails the pod rather than start it
    on an empty ``/etc``.
    """
    relative = " ".join(f"'{d.lstrip('/')}'" for d in directories)
    return (
        "set -e; "
        f"if [ -f /mnt{INIT_MARKER} ]; then exit 0; fi; "
        "cd /; "
        "if command -v rsync >/dev/null 2>&1; then "
        f"rsync -ax --relative {relative} /mnt/; "
        f"else tar cf - {relative} | (cd /mnt && tar xpf -); fi; "
        f"mkdir -p /mnt{posixpath.dirname(INIT_MARKER)}; "
        f"touch /mnt{INIT_MARKER}"
    )


def _secret_volume_name(secret: KDSecret) -> str:
    name = f"secret-vol-{secret.name}"
    if len(name) <= names.LABEL_LIMIT and names.label_value(name) == name and "." not in name:
        return name
    return "secret-vol-" + hashlib.sha256(secret.name.encode()).hexdigest()[:16]


def _tmpfs(name: str, size: str | int) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def _volumes(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role: RoleSpec, native_systemd: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The app container's volume mounts and the pod's volumes.

    An app that needs systemd gets the host's cgroup filesystem, unless the
    nodes' runtime supports systemd natively (``native_systemd``).
    """
    spec = role.cluster_role
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if spec.storage is not None:
        for directory in persist_dirs(role.app_role):
            mounts.append(
                {"name": names.PVC_TEMPLATE, "mountPath": directory, "subPath": directory[1:]}
            )
    for name, path in (
        # Paths in the member's container (memory-backed, as the original), not the host's.
        ("tmpfs-tmp", "/tmp"),  # noqa: S108
        ("tmpfs-run", "/run"),
        ("tmpfs-run-lock", "/run/lock"),
    ):
        mounts.append({"name": name, "mountPath": path})
        volumes.append(_tmpfs(name, TMPFS_SIZE))
    secret = spec.secret or cluster.spec.default_secret
    if secret is not None:
        volume_name = _secret_volume_name(secret)
        mount: dict[str, Any] = {"name": volume_name, "mountPath": secret.mount_path}
        if secret.read_only is not None:
            mount["readOnly"] = secret.read_only
        source: dict[str, Any] = {"secretName": secret.name}
        if secret.default_mode is not None:
            source["defaultMode"] = secret.default_mode
        mounts.append(mount)
        volumes.append({"name": volume_name, "secret": source})
    for index, projection in enumerate(spec.volume_projections or []):
        volume_name = f"projected-vol-{index}"
        read_only = bool(projection.read_only)
        mounts.append(
            {"name": volume_name, "mountPath": projection.mount_path, "readOnly": read_only}
        )
        volumes.append(
            {
                "name": volume_name,
                "persistentVolumeClaim": {"claimName": projection.pvc_name, "readOnly": read_only},
            }
        )
    if spec.shared_memory is not None:
        mounts.append({"name": "shmem", "mountPath": "/dev/shm"})  # noqa: S108
        volumes.append(_tmpfs("shmem", spec.shared_memory))
    if app.spec.systemd_required and not native_systemd:
        mounts.append({"name": "cgroupfs", "mountPath": CGROUP_DIR, "readOnly": True})
        volumes.append({"name": "cgroupfs", "hostPath": {"path": CGROUP_DIR}})
    return mounts, volumes


def _claim_templates(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: RoleSpec,
    default_storage_class: str | None,
) -> list[dict[str, Any]]:
    spec = role.cluster_role
    labels = role_labels(app, cluster, role.id)
    templates: list[dict[str, Any]] = []
    if spec.storage is not None:
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": spec.storage.size}},
        }
        storage_class = spec.storage.storage_class_name or default_storage_class
        if storage_class:
            claim["storageClassName"] = storage_class
        templates.append(
            {"metadata": {"name": names.PVC_TEMPLATE, "labels": labels}, "spec": claim}
        )
    block = spec.block_storage
    if block is not None:
        for device in range(block.num_devices):
            templates.append(
                {
                    "metadata": {"name": f"b{device}", "labels": labels},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": block.size or "1Gi"}},
                        "storageClassName": block.storage_class_name,
                        "volumeMode": "Block",
                    },
                }
            )
    return templates


# ---------------------------------------------------------------------------
# The app container


def requests_nvidia_gpu(cluster_role: ClusterRole) -> bool:
    """True when the role asks for a non-zero amount of an ``nvidia.com/*`` resource."""
    resources = cluster_role.resources
    asked = resources.requests if resources.requests is not None else resources.limits
    return any(
        name.startswith(NVIDIA_PREFIX) and parse_quantity(quantity) != 0
        for name, quantity in asked.items()
    )


def _env(role: RoleSpec) -> list[dict[str, Any]]:
    env = [variable.to_wire() for variable in role.cluster_role.env or []]
    package = role.app_role.config_package
    if package is not None and package.use_new_setup_layout:
        env.append({"name": "PYTHONUSERBASE", "value": "/usr/local"})
    if not requests_nvidia_gpu(role.cluster_role):
        # Without this a GPU node's runtime shows its GPUs to containers that asked for none.
        env.append({"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"})
    return env


def _resources(cluster_role: ClusterRole) -> dict[str, Any]:
    resources: dict[str, Any] = {"limits": dict(cluster_role.resources.limits)}
    if cluster_role.resources.requests is not None:
        resources["requests"] = dict(cluster_role.resources.requests)
    return resources


def _post_start(headless: str) -> dict[str, Any]:
    """Put the cluster's domain first in the search list, so short member names resolve."""
    script = (
        f"sed 's/^search \\([^ ]*\\)/search {headless}.\\1 \\1/' /etc/resolv.conf "
        "> /tmp/resolv.conf.new && cat /tmp/resolv.conf.new > /etc/resolv.conf; "
        "rm -f /tmp/resolv.conf.new; chmod 755 /run; exit 0"
    )
    return {"exec": {"command": ["/bin/sh", "-c", script]}}


def _app_container(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, role: RoleSpec, native_systemd: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mounts, volumes = _volumes(app, cluster, role, native_systemd)
    container: dict[str, Any] = {
        "name": names.APP_CONTAINER,
        "image": role.app_role.image_repo_tag,
        "resources": _resources(role.cluster_role),
        "env": _env(role),
        "volumeMounts": mounts,
        "lifecycle": {"postStart": _post_start(names.headless_service_name(cluster))},
    }
    ports = [{"name": port.id, "containerPort": port.port} for port in role_ports(app, role.id)]
    if ports:
        container["ports"] = ports
    block = role.cluster_role.block_storage
    if block is not None:
        container["volumeDevices"] = [
            {"name": f"b{device}", "devicePath": f"{block.path_prefix}{device}"}
            for device in range(block.num_devices)
        ]
    if app.spec.capabilities:
        container["securityContext"] = {"capabilities": {"add": list(app.spec.capabilities)}}
    container_spec = role.app_role.container_spec
    if container_spec is not None:
        if container_spec.stdin:
            container["stdin"] = True
        if container_spec.tty:
            container["tty"] = True
    return container, volumes


def _init_container(role: RoleSpec) -> list[dict[str, Any]]:
    if role.cluster_role.storage is None:
        return []
    return [
        {
            "name": names.INIT_CONTAINER,
            "image": role.app_role.image_repo_tag,
            "command": ["/bin/sh", "-c", init_container_script(persist_dirs(role.app_role))],
            "resources": _resources(role.cluster_role),
            "securityContext": {"runAsUser": 0},
            "volumeMounts": [{"name": names.PVC_TEMPLATE, "mountPath": "/mnt"}],
        }
    ]


def statefulset(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: RoleSpec,
    replicas: int,
    default_storage_class: str | None = None,
    template: TemplateSettings | None = None,
) -> Manifest:
    """The role's StatefulSet with ``replicas`` pods.

    ``template`` is what the StatefulSet takes from KubeDirectorConfig: its
    pod labels and annotations are added to the role's (and win, as in
    KubeDirector; the selector's labels win over both), its storage class
    comes before ``default_storage_class`` (the Kubernetes default) for
    storage that names none. It is recorded in the annotation
    :data:`~kubedirector_core.plan.settings.TEMPLATE_ANNOTATION` unless empty,
    so that a later config change leaves the StatefulSet (and its pods) alone.
    """
    template = template or TemplateSettings()
    spec = role.cluster_role
    selector = pod_selector(cluster, role.id)
    labels = {**role_labels(app, cluster, role.id), **selector}
    pod_labels = {**labels, **(spec.pod_labels or {}), **template.pod_labels, **selector}
    pod_annotations = {
        **cluster_annotations(app),
        **(spec.pod_annotations or {}),
        **template.pod_annotations,
    }
    container, volumes = _app_container(app, cluster, role, template.native_systemd_support)
    pod: dict[str, Any] = {
        "automountServiceAccountToken": spec.service_account_name is not None,
        "containers": [container],
        "volumes": volumes,
    }
    init = _init_container(role)
    if init:
        pod["initContainers"] = init
    if spec.service_account_name is not None:
        pod["serviceAccountName"] = spec.service_account_name
    if spec.affinity is not None:
        pod["affinity"] = spec.affinity
    body: dict[str, Any] = {
        "podManagementPolicy": "Parallel",
        "replicas": replicas,
        "serviceName": names.headless_service_name(cluster),
        "selector": {"matchLabels": pod_selector(cluster, role.id)},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": pod,
        },
    }
    templates = _claim_templates(
        app, cluster, role, template.default_storage_class or default_storage_class
    )
    if templates:
        body["volumeClaimTemplates"] = templates
        # The original deletes a removed member's claim; Kubernetes can do it too.
        body["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": "Delete",
            "whenScaled": "Delete",
        }
    annotations = cluster_annotations(app)
    if not template.is_default:
        annotations[TEMPLATE_ANNOTATION] = template.to_annotation()
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(
            cluster, names.statefulset_name(cluster, role.id), labels, annotations
        ),
        "spec": body,
    }


#: orjson raises TypeError for what it would otherwise turn into something else
#: (dataclasses, datetimes, subclasses of the JSON types), so those keep the slow path.
_CANONICAL_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively (lists keep their order).

    Tuples become lists. A JSON-like value (every manifest) is copied in one
    pass through orjson; anything orjson cannot carry unchanged (a non-string
    key, an integer beyond 64 bits, a non-dict mapping) takes the recursive path.
    """
    try:
        return orjson.loads(orjson.dumps(value, option=_CANONICAL_OPTIONS))
    except TypeError:
        return _canonical(value)


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def sort_objects(objects: Iterable[Manifest]) -> list[Manifest]:
    """Objects in a fixed order: kind (Services first), then name."""
    order = {"Service": 0, "StatefulSet": 1}
    return sorted(
        (canonical(obj) for obj in objects),
        key=lambda obj: (
            order.get(str(obj.get("kind")), 2),
            str(obj.get("kind")),
            str((obj.get("metadata") or {}).get("name")),
        ),
    )
