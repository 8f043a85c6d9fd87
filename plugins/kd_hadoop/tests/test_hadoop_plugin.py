"""kd-hadoop passes the conformance suite and, installed, is found, disabled by name, used."""

from __future__ import annotations

from pathlib import Path

import hadoop_builders as build
import pytest

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
        COMPAT / "apps" / "cr-app-cdh5142cm.json",
        COMPAT / "clusters" / "cr-cluster-cdh5142cm-stor.yaml",
    )


def _own_case() -> ConformanceCase:
    """The plugin's own hadoop3 app, its example cluster, and clusters it must reject."""
    return ConformanceCase(
        app=build.app(),
        cluster=build.cluster(),
        malformed=(
            MalformedCluster(build.cluster(namenode=2), "spec.roles[0].members"),
            MalformedCluster(build.cluster(replication=3, datanode=2), "spec.roles[1].members"),
            MalformedCluster(
                build.cluster(memory={"nodemanager": "1Gi"}), "spec.roles[3].resources"
            ),
            MalformedCluster(build.cluster(replication="two"), "metadata.annotations"),
        ),
    )


class TestHadoopPlugin(PluginConformance, InstalledPluginChecks):
    """The plugin's own app, plus KubeDirector's Cloudera app (which it claims but leaves be);
    installed, found through its entry point, disabled by name, its catalog used.
    """

    plugin_name = "hadoop"
    distribution = "kd-hadoop"
    catalog_app = "hadoop3"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_hadoop import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        return [_own_case(), *([_case()] if COMPAT.is_dir() else [])]

    @pytest.fixture
    def kd_example(self) -> tuple[kd.KubeDirectorApp, kd.KubeDirectorCluster]:
        return build.app(), build.cluster()
