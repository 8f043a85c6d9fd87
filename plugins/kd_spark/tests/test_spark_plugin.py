"""kd-spark is found through its entry point once installed, and disabled by name."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import kubedirector_core as kd
from kubedirector_core.testing.conformance import ConformanceCase, PluginConformance

try:
    DIST_VERSION: str | None = importlib.metadata.version("kd-spark")
except importlib.metadata.PackageNotFoundError:
    DIST_VERSION = None

pytestmark = pytest.mark.skipif(
    DIST_VERSION is None, reason="kd-spark is not installed: pip install -e plugins/kd_spark"
)

# The KubeDirector compatibility corpus, beside the project (see shared/compat).
COMPAT = Path(__file__).resolve().parents[3].parent / "shared" / "compat" / "kubedirector"
needs_compat = pytest.mark.skipif(not COMPAT.is_dir(), reason=f"no compat corpus at {COMPAT}")


def _case() -> ConformanceCase:
    return ConformanceCase.load(
        COMPAT / "apps" / "cr-app-spark245.json", COMPAT / "clusters" / "cr-cluster-spark245.yaml"
    )


def test_discovered_through_its_entry_point() -> None:
    from kd_spark import plugin

    listing = {info.name: info for info in kd.load_hooks(kd.PluginSettings()).plugins()}

    assert listing["spark"].version == DIST_VERSION
    assert listing["spark"].claims == tuple(plugin.CLAIMS)


@needs_compat
def test_claims_its_app_until_disabled_by_name() -> None:
    app = _case().app
    enabled = kd.load_hooks(kd.PluginSettings())
    disabled = kd.load_hooks(kd.PluginSettings.from_env({"KD_DISABLED_PLUGINS": "spark"}))

    assert "spark" in enabled.claimed_by(app)
    assert "spark" not in disabled.claimed_by(app)
    assert "spark" not in [info.name for info in disabled.plugins()]


@needs_compat
class TestSparkConformance(PluginConformance):
    plugin_name = "spark"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_spark import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        return [_case()]
