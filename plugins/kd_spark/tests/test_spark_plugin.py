"""kd-spark is found through its entry point once installed, and disabled by name."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import spark_builders as build

import kubedirector_core as kd
from kubedirector_core.testing.conformance import (
    ConformanceCase,
    MalformedCluster,
    PluginConformance,
)

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


def _own_case() -> ConformanceCase:
    """The plugin's own spark3 app, its example cluster, and clusters it must reject."""
    return ConformanceCase(
        app=build.app(),
        cluster=build.cluster(),
        malformed=(
            MalformedCluster(build.cluster(master=2), "spec.roles[0].members"),
            MalformedCluster(build.cluster(history=2), "spec.roles[2].members"),
            MalformedCluster(
                build.cluster(worker_limits={"cpu": "4", "memory": "2Gi"}),
                "spec.roles[1].resources",
            ),
            MalformedCluster(
                build.cluster({"kd-spark/spark.executor.memory": "lots"}), "metadata.annotations"
            ),
        ),
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


class TestSparkConformance(PluginConformance):
    """The plugin's own app, plus KubeDirector's spark245 app (whose roles it also knows)."""

    plugin_name = "spark"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_spark import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        return [_own_case(), *([_case()] if COMPAT.is_dir() else [])]


def test_ships_its_catalog_through_the_catalog_entry_point() -> None:
    from kubedirector_core.catalog import load_catalog

    catalog = load_catalog([], include_installed=True)

    entry = catalog.get("spark3")
    assert "kd_spark" in entry.source
    assert entry.app.spec.distro_id == "kubedirector.io/spark3"
    assert [str(p) for p in catalog.problems if "kd_spark" in p.source] == []


def test_the_example_cluster_renders_offline_with_the_plugin() -> None:
    """The core's planner renders the example cluster with the plugin's hooks in the loop."""
    offline = pytest.importorskip("kubedirector_core.plan.offline")
    from kd_spark import plugin

    from kubedirector_core.testing.plugin_fixtures import isolated_hooks

    hooks = isolated_hooks(("spark", plugin))
    app, cluster = build.app(), build.cluster()
    assert [p for p in hooks.validate_cluster(cluster, app, None) if p.is_error] == []

    objects = offline.render_objects(app, cluster, hooks)

    statefulsets = {
        o["metadata"]["labels"]["kubedirector.hpe.com/role"]: o
        for o in objects
        if o["kind"] == "StatefulSet"
    }
    assert set(statefulsets) == {role.id for role in cluster.spec.roles if role.members}
