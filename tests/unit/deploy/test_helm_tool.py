"""The pinned helm is found in the binary cache, and its wrapper module pins the release."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedirector_core.devcluster import tools, versions
from kubedirector_core.devcluster.gomodules import GOMOD_ROOT
from kubedirector_core.errors import DevClusterError


def test_a_cached_helm_is_returned_without_building(tmp_path: Path) -> None:
    cached = tools.helm_path(tmp_path)
    assert cached == tmp_path / f"helm-{versions.HELM_VERSION}" / "bin" / "helm"
    cached.parent.mkdir(parents=True)
    cached.write_text("#!/bin/sh\n")
    cached.chmod(0o755)
    messages: list[str] = []
    assert tools.helm_binary(progress=messages.append, root=tmp_path) == cached
    assert messages == []


def test_building_helm_without_go_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DevClusterError, match=r"Install Go 1\.26"):
        tools.helm_binary(progress=lambda _: None, root=tmp_path)


def test_the_wrapper_module_requires_exactly_the_pinned_helm() -> None:
    gomod = (GOMOD_ROOT / "helm" / "go.mod").read_text()
    assert f"require helm.sh/helm/v3 {versions.HELM_VERSION}\n" in gomod
    assert (GOMOD_ROOT / "helm" / "go.sum").stat().st_size > 0
    assert '_ "helm.sh/helm/v3/cmd/helm"' in (GOMOD_ROOT / "helm" / "tools.go").read_text()
