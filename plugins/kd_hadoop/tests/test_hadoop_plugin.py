"""kd-hadoop is found through its entry point once installed, and disabled by name."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import kubedirector_core as kd
from kubedirector_core.testing.conformance import ConformanceCase, PluginConformance

try:
    DIST_VERSION: str | None = importlib.metadata.version("kd-hadoop")
except importlib.metadata.PackageNotFoundError:
    DIST_VERSION = None

pytestmark = pytest.mark.skipif(
    DIST_VERSION is None, reason="kd-hadoop is not installed: pip install -e plugins/kd_hadoop"
)

# The KubeDirector compatibility corpus, beside the project (see shared/compat).
COMPAT = Path(__file__).resolve().parents[3].parent / "shared" / "compat" / "kubedirector"
needs_compat = pytest.mark.skipif(not COMPAT.is_dir(), reason=f"no compat corpus at {COMPAT}")


def _case() -> ConformanceCase:
    return ConformanceCase.load(
        COMPAT / "apps" / "cr-app-cdh5142cm.json",
        COMPAT / "clusters" / "cr-cluster-cdh5142cm-stor.yaml",
    )


def test_discovered_through_its_entry_point() -> None:
    from kd_hadoop import plugin

    listing = {info.name: info for info in kd.load_hooks(kd.PluginSettings()).plugins()}

    assert listing["hadoop"].version == DIST_VERSION
    assert listing["hadoop"].claims == tuple(plugin.CLAIMS)


@needs_compat
def test_claims_its_app_until_disabled_by_name() -> None:
    app = _case().app
    enabled = kd.load_hooks(kd.PluginSettings())
    disabled = kd.load_hooks(kd.PluginSettings.from_env({"KD_DISABLED_PLUGINS": "hadoop"}))

    assert "hadoop" in enabled.claimed_by(app)
    assert "hadoop" not in disabled.claimed_by(app)
    assert "hadoop" not in [info.name for info in disabled.plugins()]


@needs_compat
class TestHadoopConformance(PluginConformance):
    plugin_name = "hadoop"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_hadoop import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        return [_case()]
