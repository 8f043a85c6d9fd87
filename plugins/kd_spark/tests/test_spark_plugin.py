"""kd-spark passes the conformance suite and, installed, is found, disabled by name, used."""

from __future__ import annotations

from pathlib import Path

import pytest
import spark_builders as build

import kubedirector_core as kd
from kubedirector_core.testing.conformance import (
    ConformanceCase,
    MalformedCluster,
    PluginConformance,
)
from kubedirector_core.testing.installed import InstalledPluginChecks

# The KubeDirector compatibility corpus, beside the project (see shared/compat).
COMPAT = Path(__file__).resolve().parents[3].parent / "shared" / "compat" / "kubedirector"


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


class TestSparkPlugin(PluginConformance, InstalledPluginChecks):
    """The plugin's own app, plus KubeDirector's spark245 app (whose roles it also knows);
    installed, found through its entry point, disabled by name, its catalog used.
    """

    plugin_name = "spark"
    distribution = "kd-spark"
    catalog_app = "spark3"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_spark import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        return [_own_case(), *([_case()] if COMPAT.is_dir() else [])]

    @pytest.fixture
    def kd_example(self) -> tuple[kd.KubeDirectorApp, kd.KubeDirectorCluster]:
        return build.app(), build.cluster()
