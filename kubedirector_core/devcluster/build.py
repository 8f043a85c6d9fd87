"""Build the control plane's binaries from the Go module proxy, once, into a cache.

Binaries are cached per user under ``$KD_DEVCLUSTER_CACHE`` (default
``$XDG_CACHE_HOME/kubedirector/devcluster``), in one folder per component and
version (``kubernetes-v1.36.3/bin/kube-apiserver``...). Only missing components
are built. A build writes into a temporary folder that is renamed into place
when complete, so a build interrupted half-way leaves nothing that looks
finished and the next run simply starts that component again.

KWOK's stage and CRD manifests ship inside its Go module; they are copied from
the module cache next to the kwok binary so that a running control plane never
depends on the module cache.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubedirector_core.devcluster import versions
from kubedirector_core.devcluster.gomodules import GOMOD_ROOT
from kubedirector_core.errors import DevClusterError

Progress = Callable[[str], None]

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_root() -> Path:
    """Return the folder that holds built binaries, creating nothing."""
    explicit = os.environ.get("KD_DEVCLUSTER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubedirector" / "devcluster"


@dataclass(frozen=True)
class Binaries:
    """Paths of every built binary and of KWOK's shipped manifests."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    kwok_share: Path

    @classmethod
    def under(cls, root: Path) -> Binaries:
        """The paths the binaries have (or will have) under cache ``root``."""
        k8s = root / f"kubernetes-{versions.KUBERNETES_VERSION}" / "bin"
        kwok = root / f"kwok-{versions.KWOK_VERSION}"
        return cls(
            etcd=root / f"etcd-{versions.ETCD_VERSION}" / "bin" / "etcd",
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            kubectl=k8s / "kubectl",
            kwok=kwok / "bin" / "kwok",
            kwok_share=kwok / "share",
        )

    def missing(self) -> list[str]:
        """Names of the components whose binaries are not in the cache yet."""
        wanted = {
            "kubernetes": [
                self.kube_apiserver,
                self.kube_controller_manager,
                self.kube_scheduler,
                self.kubectl,
            ],
            "etcd": [self.etcd],
            "kwok": [self.kwok, self.kwok_share / "stages"],
        }
        return [name for name, paths in wanted.items() if not all(p.exists() for p in paths)]


def go_binary() -> str:
    """Return the path of ``go`` or raise a clear error saying what to install."""
    found = shutil.which("go")
    if found is None:
        raise DevClusterError(
            "Go is needed to build the local control plane but `go` is not on PATH. "
            "Install Go 1.26 or later (https://go.dev/dl/) and try again."
        )
    return found


def _go_env() -> dict[str, str]:
    return dict(os.environ, GOTOOLCHAIN="local", GOWORK="off", GOFLAGS="-mod=mod", CGO_ENABLED="0")


def _kubernetes_ldflags() -> str:
    major, minor = versions.kubernetes_minor()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={versions.KUBERNETES_VERSION}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={stamp}",
        ]
    return " ".join(flags)


def _kwok_ldflags() -> str:
    version = versions.KWOK_VERSION.lstrip("v")
    return f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={version}"


def _run_go(args: list[str], cwd: Path, progress: Progress, label: str) -> None:
    started = time.monotonic()
    output: list[str] = []
    with subprocess.Popen(
        [go_binary(), *args],
        cwd=cwd,
        env=_go_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        last_report = started
        for line in process.stdout:
            output.append(line)
            now = time.monotonic()
            if now - last_report > 30:
                progress(f"  ... still building {label} ({now - started:.0f}s)")
                last_report = now
        returncode = process.wait()
    if returncode != 0:
        tail = "".join(output[-40:])
        raise DevClusterError(f"building {label} failed (go {' '.join(args[:2])}):\n{tail}")
    progress(f"  built {label} in {time.monotonic() - started:.0f}s")


def _module_dir(module_dir: Path, module: str) -> Path:
    """Return the module cache folder of ``module`` as resolved in ``module_dir``."""
    result = subprocess.run(
        [go_binary(), "list", "-m", "-f", "{{.Dir}}", module],
        cwd=module_dir,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise DevClusterError(f"cannot locate module {module}: {result.stderr.strip()}")
    return Path(result.stdout.strip())


def _install(staging: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(final)


def _staging_dir(final: Path) -> Path:
    staging = final.parent / f".{final.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "bin").mkdir(parents=True)
    return staging


def _clear_stale_partials(root: Path) -> None:
    """Remove the leftovers of builds that were interrupted."""
    if not root.is_dir():
        return
    for leftover in root.glob(".*.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def build_kubernetes(binaries: Binaries, progress: Progress) -> None:
    """Build every Kubernetes command in one ``go build`` so shared packages compile once."""
    final = binaries.kube_apiserver.parent.parent
    staging = _staging_dir(final)
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    progress(
        f"building Kubernetes {versions.KUBERNETES_VERSION} ({', '.join(KUBERNETES_COMMANDS)})"
    )
    progress("  this takes several minutes on a cold machine")
    _run_go(
        [
            "build",
            "-trimpath",
            "-ldflags",
            _kubernetes_ldflags(),
            "-o",
            f"{staging}/bin/",
            *packages,
        ],
        cwd=GOMOD_ROOT / "kubernetes",
        progress=progress,
        label=f"kubernetes {versions.KUBERNETES_VERSION}",
    )
    _install(staging, final)


def build_etcd(binaries: Binaries, progress: Progress) -> None:
    """Build etcd from its own wrapper module (its dependency versions differ from k8s')."""
    final = binaries.etcd.parent.parent
    staging = _staging_dir(final)
    progress(f"building etcd {versions.ETCD_VERSION}")
    _run_go(
        ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / "bin" / "etcd"), "."],
        cwd=GOMOD_ROOT / "etcd",
        progress=progress,
        label=f"etcd {versions.ETCD_VERSION}",
    )
    _install(staging, final)


def build_kwok(binaries: Binaries, progress: Progress) -> None:
    """Build kwok and copy its stage and CRD manifests out of the module cache."""
    final = binaries.kwok.parent.parent
    staging = _staging_dir(final)
    progress(f"building kwok {versions.KWOK_VERSION}")
    wrapper = GOMOD_ROOT / "kwok"
    _run_go(
        [
            "build",
            "-trimpath",
            "-ldflags",
            _kwok_ldflags(),
            "-o",
            str(staging / "bin" / "kwok"),
            "sigs.k8s.io/kwok/cmd/kwok",
        ],
        cwd=wrapper,
        progress=progress,
        label=f"kwok {versions.KWOK_VERSION}",
    )
    source = _module_dir(wrapper, "sigs.k8s.io/kwok") / "kustomize"
    share = staging / "share"
    shutil.copytree(source / "stage", share / "stages", ignore=shutil.ignore_patterns("*_test.go"))
    shutil.copytree(source / "crd" / "bases", share / "crds")
    for path in share.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    _install(staging, final)


def ensure_binaries(progress: Progress = _stderr, root: Path | None = None) -> Binaries:
    """Return the cached binaries, building whatever is missing first."""
    root = root or cache_root()
    binaries = Binaries.under(root)
    missing = binaries.missing()
    if not missing:
        return binaries
    go_binary()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as lock:
        # Another process may be building the same cache: wait for it, then
        # build only what it did not.
        fcntl.flock(lock, fcntl.LOCK_EX)
        _clear_stale_partials(root)
        missing = binaries.missing()
        if missing:
            progress(
                f"building the local control plane into {root} (missing: {', '.join(missing)})"
            )
        builders = {"etcd": build_etcd, "kwok": build_kwok, "kubernetes": build_kubernetes}
        for name in missing:
            builders[name](binaries, progress)
    return binaries
