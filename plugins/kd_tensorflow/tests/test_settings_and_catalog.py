"""Where settings are read from, and the apps this plugin ships."""

from __future__ import annotations

import tf_builders as tf
from kd_tensorflow.settings import Placement, role_settings

import kubedirector_core as kd
from kubedirector_core.catalog import load_catalog

PLACEMENT = "tensorflow.kubedirector.io/placement"


def test_a_role_overrides_the_cluster_which_overrides_the_app() -> None:
    the_app = tf.app().model_copy(deep=True)
    assert the_app.spec.config.config_meta is not None
    the_app.spec.config.config_meta[PLACEMENT] = "none"
    document = tf.wire()
    chief_only = tf.cluster(document)
    document["metadata"]["annotations"][PLACEMENT] = "pack"
    tf.role_doc(document, "worker")["podAnnotations"] = {PLACEMENT: "spread"}
    both = tf.cluster(document)
    del document["metadata"]["annotations"][PLACEMENT]
    document["spec"]["roles"][1].pop("podAnnotations")

    assert role_settings(the_app, chief_only, 0).placement is Placement.SPREAD  # the example's
    assert role_settings(the_app, both, 0).placement is Placement.PACK
    assert role_settings(the_app, both, 1).placement is Placement.SPREAD
    assert role_settings(the_app, tf.cluster(document), 1).placement is Placement.NONE


def test_a_misspelt_setting_is_warned_about_where_it_is() -> None:
    document = tf.wire()
    document["metadata"]["annotations"]["tensorflow.kubedirector.io/gpu-prodcut"] = "A100"

    [problem] = tf.hooks().validate_cluster(tf.cluster(document), tf.app(), None)

    assert problem.severity is kd.Severity.WARNING
    assert problem.path == "metadata.annotations.tensorflow.kubedirector.io/gpu-prodcut"
    assert "a typo?" in problem.message


def test_a_cluster_wide_setting_on_a_role_is_pointed_to_the_cluster() -> None:
    document = tf.wire()
    tf.role_doc(document, "worker")["podAnnotations"] = {"tensorflow.kubedirector.io/gang": "false"}

    [problem] = tf.hooks().validate_cluster(tf.cluster(document), tf.app(), None)

    assert problem.path == "spec.roles[1].podAnnotations.tensorflow.kubedirector.io/gang"
    assert "metadata.annotations" in problem.message


def test_a_training_app_needs_exactly_one_chief() -> None:
    broken = tf.app().model_copy(deep=True)
    broken.spec.roles[0] = broken.spec.roles[0].model_copy(update={"cardinality": "1+"})

    [problem] = tf.hooks().validate_app(broken)

    assert problem.path == "spec.roles[0].cardinality"


def test_the_catalog_apps_are_installed_valid_and_claimed() -> None:
    catalog = load_catalog([], include_installed=True)
    apps = catalog.apps()
    hooks = tf.hooks()

    assert {"tensorflow-training", "tensorflow-training-gpu"} <= set(apps)
    assert not [p for p in catalog.problems if "tensorflow" in p.source]
    for name in ("tensorflow-training", "tensorflow-training-gpu"):
        assert "tensorflow" in hooks.claimed_by(apps[name])
        assert hooks.validate_app(apps[name]) == []


def test_the_example_clusters_are_valid_for_their_apps() -> None:
    hooks = tf.hooks()
    for app_path, cluster_path in [(tf.CPU_APP, tf.CPU_CLUSTER), (tf.GPU_APP, tf.GPU_CLUSTER)]:
        assert hooks.validate_cluster(tf.cluster(cluster_path), tf.app(app_path), None) == []
