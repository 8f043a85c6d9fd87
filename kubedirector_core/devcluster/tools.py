"""Developer tools built like the control plane: today ``helm``, for the chart's tests.

Helm publishes its command as a Go module (``helm.sh/helm/v3/cmd/helm``) but no
package registry ships a ``helm`` binary. It is built from the Go module proxy
at the pinned :data:`~kubedirector_core.devcluster.versions.HELM_VERSION`
through the wrapper module in ``gomod/helm`` (go.sum committed), into the same
per-user binary cache as the control plane (``helm-v3.22.0/bin/helm``), once.
Go is used only to build such published tools; the operator is pure Python.

:func:`helm_binary` does not need a running control plane: ``helm template``
and ``helm lint`` work offline.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kubedirector_core.devcluster import versions
from kubedirector_core.devcluster.build import (
    Progress,
    _clear_stale_partials,
    _install,
    _run_go,
    _staging_dir,
    _stderr,
    cache_root,
    go_binary,
)
from kubedirector_core.devcluster.gomodules import GOMOD_ROOT

HELM_PACKAGE = "helm.sh/helm/v3/cmd/helm"


def helm_path(root: Path | None = None) -> Path:
    """Return where the pinned ``helm`` is (or will be) in the cache, building nothing."""
    root = root or cache_root()
    return root / f"helm-{versions.HELM_VERSION}" / "bin" / "helm"


def _helm_ldflags() -> str:
    package = "helm.sh/helm/v3/internal/version"
    return f"-s -w -X {package}.version={versions.HELM_VERSION} -X {package}.gitTreeState=clean"


def build_helm(target: Path, progress: Progress) -> None:
    """Build ``helm`` into ``target`` (its ``bin/helm`` parent's parent), atomically."""
    final = target.parent.parent
    staging = _staging_dir(final)
    progress(f"building helm {versions.HELM_VERSION}")
    _run_go(
        [
            "build",
            "-trimpath",
            "-ldflags",
            _helm_ldflags(),
            "-o",
            str(staging / "bin" / "helm"),
            HELM_PACKAGE,
        ],
        cwd=GOMOD_ROOT / "helm",
        progress=progress,
        label=f"helm {versions.HELM_VERSION}",
    )
    _install(staging, final)


def helm_binary(progress: Progress = _stderr, root: Path | None = None) -> Path:
    """Return the path of the pinned ``helm``, building it first if it is not cached.

    Raises :class:`~kubedirector_core.errors.DevClusterError` when Go is missing
    or the build fails, with the build's last lines.
    """
    root = root or cache_root()
    target = helm_path(root)
    if target.exists():
        return target
    go_binary()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as lock:
        # Shares the control plane's build lock: a concurrent build of the same
        # cache is waited for, and the binary is built by one process only.
        fcntl.flock(lock, fcntl.LOCK_EX)
        _clear_stale_partials(root)
        if not target.exists():
            build_helm(target, progress)
    if not os.access(target, os.X_OK):
        target.chmod(0o755)
    return target
