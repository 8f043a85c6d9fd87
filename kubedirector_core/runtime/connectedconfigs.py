"""Reading a cluster's connected ConfigMaps and Secrets for its configmeta.

ConfigMaps come from the watch cache (:attr:`Caches.configmap_content`); this
module reads only the ones the cache has a version but no content for (a
cluster that started connecting a ConfigMap seen before). Secrets are never
cached: they are read here, once per reconcile, and only when the plan writes
configmeta (:attr:`~kubedirector_core.plan.model.Plan.needs_connected_secrets`).
Their values go into the members' configmeta and nowhere else: no log line,
status or Event of this module carries them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from kubedirector_core.errors import KubeDirectorError
from kubedirector_core.plan.model import ConnectedObject, Manifest
from kubedirector_core.runtime.kubeapi import ApiError, KubeApi
from kubedirector_core.runtime.objects import CONFIG_MAP, SECRET, Kind

log = logging.getLogger(__name__)


class ConnectionReadError(KubeDirectorError):
    """A connected ConfigMap or Secret exists but could not be read (e.g. not allowed)."""

    def __init__(self, kind: str, namespace: str, name: str, error: ApiError) -> None:
        super().__init__(
            f"cannot read connected {kind} {namespace}/{name} ({error.status} {error.reason}); "
            f"the operator needs get on {kind.lower()}s in {namespace}"
        )


def _read(api: KubeApi, kind: Kind, namespace: str, names: Iterable[str]) -> list[Manifest]:
    """GET each object; a missing one is left out (configmeta leaves it out too)."""
    found: list[Manifest] = []
    for name in names:
        try:
            body: Manifest = api.request("GET", kind.object_path(name, namespace))
        except ApiError as error:
            if error.status == 404:
                continue
            raise ConnectionReadError(kind.kind, namespace, name, error) from None
        found.append({**body, "apiVersion": kind.api_version, "kind": kind.kind})
    return found


def read_configmaps(api: KubeApi, namespace: str, names: Iterable[str]) -> list[Manifest]:
    """The connected ConfigMaps ``names`` that exist, as the server returns them."""
    return _read(api, CONFIG_MAP, namespace, names)


def read_secrets(api: KubeApi, namespace: str, names: Iterable[str]) -> dict[str, ConnectedObject]:
    """The connected Secrets ``names`` that exist, by name (no raw body is kept)."""
    secrets = {
        body["metadata"]["name"]: ConnectedObject.from_wire(body)
        for body in _read(api, SECRET, namespace, names)
    }
    log.info("read %d connected Secret(s) in %s for configmeta", len(secrets), namespace)
    return secrets


def connected_configmaps(
    cached: Mapping[str, Manifest], read: Iterable[Manifest]
) -> dict[str, ConnectedObject]:
    """The cached ConfigMaps and those just read, for the planner, by name."""
    bodies = dict(cached)
    bodies.update({body["metadata"]["name"]: body for body in read})
    return {name: ConnectedObject.from_wire(body) for name, body in bodies.items()}
