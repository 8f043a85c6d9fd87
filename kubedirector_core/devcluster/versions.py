"""The pinned versions of the local control plane's components.

One place to change when moving to a new Kubernetes release: edit these
constants, then run ``python -m kubedirector_core.devcluster.gomodules`` to
regenerate the Go wrapper modules (``go.mod``/``go.sum``) from the Go module
proxy, and commit the result.
"""

from __future__ import annotations

from typing import Final

#: The Kubernetes release whose kube-apiserver, kube-controller-manager,
#: kube-scheduler and kubectl are built.
KUBERNETES_VERSION: Final = "v1.36.3"

#: The etcd release that ``KUBERNETES_VERSION``'s go.mod pins
#: (``go.etcd.io/etcd/server/v3``).
ETCD_VERSION: Final = "v3.6.8"

#: The KWOK release providing fake nodes and their kubelet-like server.
KWOK_VERSION: Final = "v0.8.0"

#: The Helm 3 release whose ``helm`` command is built for the chart's tests
#: (``helm lint``, ``helm template``); not part of the control plane itself.
HELM_VERSION: Final = "v3.22.0"


def kubernetes_minor() -> tuple[str, str]:
    """Return the (major, minor) of ``KUBERNETES_VERSION`` as strings, e.g. ("1", "36")."""
    major, minor, _patch = KUBERNETES_VERSION.lstrip("v").split(".", 2)
    return major, minor


def staging_version() -> str:
    """Return the published version of Kubernetes' staging modules (v0.Y.Z for v1.Y.Z)."""
    _major, rest = KUBERNETES_VERSION.lstrip("v").split(".", 1)
    return f"v0.{rest}"
