"""Read which claims of members on gone nodes are bound to volumes that cannot follow.

The planner (``plan/nodedown``) deletes a member's claim with its pod when
the claim's PersistentVolume can be used only on the member's failed node
(a local volume). It needs :attr:`~kubedirector_core.plan.model.Observed.pinned_claims`,
which :func:`pinned_claims` builds: only for members whose node is gone or
out-of-service (:func:`~kubedirector_core.plan.nodedown.volume_may_be_recreated`),
with one GET of the bound PersistentVolume per claim, never a watch of every
volume. A volume that cannot be read (not allowed, not found) is left out,
which keeps its claim; a refusal is logged, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from kubedirector_core.plan.model import Manifest, ObjectRef, Observed, PinnedClaim
from kubedirector_core.plan.nodedown import pinned_node, volume_may_be_recreated
from kubedirector_core.runtime.kubeapi import ApiError, KubeApi
from kubedirector_core.runtime.objects import Kind

log = logging.getLogger(__name__)

PERSISTENT_VOLUME: Final = Kind("v1", "PersistentVolume", "persistentvolumes", namespaced=False)


def pinned_claims(
    api: KubeApi, namespace: str, observed: Observed, children: Mapping[ObjectRef, Manifest]
) -> dict[str, PinnedClaim]:
    """The claims of members on gone or out-of-service nodes whose volume is pinned there."""
    pinned: dict[str, PinnedClaim] = {}
    for pod in observed.pods.values():
        if pod.node_name is None or not volume_may_be_recreated(observed, pod):
            continue
        for name, claim in _claims_of(pod.name, namespace, children):
            metadata = claim.get("metadata") or {}
            volume = (claim.get("spec") or {}).get("volumeName")
            if metadata.get("deletionTimestamp") or not volume:
                continue
            node = _volume_node(api, str(volume), name, namespace)
            if node == pod.node_name:
                pinned[name] = PinnedClaim(
                    pod=pod.name, uid=str(metadata.get("uid")), volume=str(volume), node=node
                )
    return pinned


def _claims_of(
    pod: str, namespace: str, children: Mapping[ObjectRef, Manifest]
) -> list[tuple[str, Manifest]]:
    """The observed claims the pod's StatefulSet made for it from its claim templates."""
    statefulset = children.get(
        ObjectRef("apps/v1", "StatefulSet", pod.rsplit("-", 1)[0], namespace)
    )
    if statefulset is None:
        return []
    templates = (statefulset.get("spec") or {}).get("volumeClaimTemplates") or []
    claims = []
    for template in templates:
        name = f"{(template.get('metadata') or {}).get('name')}-{pod}"
        claim = children.get(ObjectRef("v1", "PersistentVolumeClaim", name, namespace))
        if claim is not None:
            claims.append((name, claim))
    return claims


def _volume_node(api: KubeApi, volume: str, claim: str, namespace: str) -> str | None:
    """The node ``volume`` is pinned to, or None when it is not or cannot be read."""
    try:
        body = api.request("GET", PERSISTENT_VOLUME.object_path(volume, None))
    except ApiError as error:
        if error.status != 404:
            log.warning(
                "keeping claim %s/%s: cannot read its PersistentVolume %s to tell whether it "
                "can follow the member to another node (%s); grant get on persistentvolumes",
                namespace,
                claim,
                volume,
                error,
            )
        return None
    return pinned_node(body) if isinstance(body, dict) else None
