"""kd-tensorflow is found through its entry point once installed, and disabled by name."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import tf_builders as tf

import kubedirector_core as kd
from kubedirector_core.testing.conformance import (
    ConformanceCase,
    MalformedCluster,
    PluginConformance,
)

try:
    DIST_VERSION: str | None = importlib.metadata.version("kd-tensorflow")
except importlib.metadata.PackageNotFoundError:
    DIST_VERSION = None

pytestmark = pytest.mark.skipif(
    DIST_VERSION is None,
    reason="kd-tensorflow is not installed: pip install -e plugins/kd_tensorflow",
)

# The KubeDirector compatibility corpus, beside the project (see shared/compat).
COMPAT = Path(__file__).resolve().parents[3].parent / "shared" / "compat" / "kubedirector"
needs_compat = pytest.mark.skipif(not COMPAT.is_dir(), reason=f"no compat corpus at {COMPAT}")


def _compat_case() -> ConformanceCase:
    return ConformanceCase.load(
        COMPAT / "apps" / "cr-app-tensorflow-gpu-dockerhub.json",
        COMPAT / "clusters" / "cr-cluster-tensorflow-gpu-dockerhub.yaml",
    )


def test_discovered_through_its_entry_point() -> None:
    from kd_tensorflow import plugin

    listing = {info.name: info for info in kd.load_hooks(kd.PluginSettings()).plugins()}

    assert listing["tensorflow"].version == DIST_VERSION
    assert listing["tensorflow"].claims == tuple(plugin.CLAIMS)


@needs_compat
def test_claims_its_app_until_disabled_by_name() -> None:
    app = _compat_case().app
    enabled = kd.load_hooks(kd.PluginSettings())
    disabled = kd.load_hooks(kd.PluginSettings.from_env({"KD_DISABLED_PLUGINS": "tensorflow"}))

    assert "tensorflow" in enabled.claimed_by(app)
    assert "tensorflow" not in disabled.claimed_by(app)
    assert "tensorflow" not in [info.name for info in disabled.plugins()]


def _malformed(role_id: str, path: str, **limits: str) -> MalformedCluster:
    document = tf.wire()
    tf.role_doc(document, role_id)["resources"]["limits"].update(limits)
    return MalformedCluster(tf.cluster(document), path)


def _catalog_cases() -> list[ConformanceCase]:
    two_evaluators = tf.wire()
    tf.add_role(two_evaluators, "evaluator", 2)
    bad_placement = tf.wire()
    bad_placement["metadata"]["annotations"]["tensorflow.kubedirector.io/placement"] = "round"
    gpu = ConformanceCase(
        tf.app(tf.GPU_APP),
        tf.cluster(tf.GPU_CLUSTER),
        malformed=(
            _malformed("worker", "spec.roles[1].resources.limits", **{"nvidia.com/gpu": "0.5"}),
            _malformed("chief", "spec.roles[0].resources.limits", **{"nvidia.com/gpu": "16"}),
            MalformedCluster(tf.cluster(two_evaluators), "spec.roles[2].members"),
            MalformedCluster(tf.cluster(bad_placement), "metadata.annotations"),
        ),
    )
    cpu = ConformanceCase(tf.app(tf.CPU_APP), tf.cluster(tf.CPU_CLUSTER))
    return [gpu, cpu]


class TestTensorflowCatalogConformance(PluginConformance):
    """The conformance suite on the apps this plugin ships in its catalog."""

    plugin_name = "tensorflow"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_tensorflow import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        return _catalog_cases()


@needs_compat
class TestTensorflowConformance(PluginConformance):
    """The conformance suite on KubeDirector's own TensorFlow notebook app."""

    plugin_name = "tensorflow"

    @pytest.fixture
    def kd_plugin(self) -> object:
        from kd_tensorflow import plugin

        return plugin

    @pytest.fixture
    def kd_cases(self) -> list[ConformanceCase]:
        bad = _compat_case().cluster.to_wire()
        bad["spec"]["roles"][0]["resources"]["requests"]["nvidia.com/gpu"] = "2"
        case = _compat_case()
        malformed = MalformedCluster(kd.KubeDirectorCluster.from_wire(bad), "spec.roles[0]")
        return [ConformanceCase(case.app, case.cluster, malformed=(malformed,))]
