"""GPU scheduling: what users are told about their GPU requests, and the pods they get."""

from __future__ import annotations

from typing import Any

import pytest
import tf_builders as tf

import kubedirector_core as kd
from kubedirector_core.testing.conformance import sample_role_objects

PRODUCT = "tensorflow.kubedirector.io/gpu-product"
MEMORY = "tensorflow.kubedirector.io/gpu-memory-min"
PLACEMENT = "tensorflow.kubedirector.io/placement"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _problems(document: dict[str, Any]) -> list[kd.Problem]:
    return tf.hooks().validate_cluster(tf.cluster(document), tf.app(), None)


def _errors(document: dict[str, Any]) -> list[kd.Problem]:
    return [p for p in _problems(document) if p.is_error]


def test_the_example_gpu_cluster_is_valid() -> None:
    assert _problems(tf.wire()) == []


@pytest.mark.parametrize("amount", ["0.5", "500m", "1.5"])
def test_fractional_gpus_are_refused_with_the_field_and_a_fix(amount: str) -> None:
    document = tf.wire()
    tf.role_doc(document, "worker")["resources"]["limits"]["nvidia.com/gpu"] = amount

    [problem] = _errors(document)

    assert problem.path == "spec.roles[1].resources.limits.nvidia.com/gpu"
    assert "fractional GPUs" in problem.message
    assert "whole number" in problem.message
    assert problem.source == "tensorflow"


def test_a_gpu_request_must_equal_its_limit() -> None:
    document = tf.wire()
    tf.role_doc(document, "worker")["resources"]["requests"] = {"nvidia.com/gpu": "2"}

    [problem] = _errors(document)

    assert problem.path == "spec.roles[1].resources.requests.nvidia.com/gpu"
    assert "must equal the limit" in problem.message


def test_a_gpu_request_without_a_limit_asks_for_the_limit() -> None:
    document = tf.wire()
    resources = tf.role_doc(document, "worker")["resources"]
    del resources["limits"]["nvidia.com/gpu"]
    resources["requests"] = {"nvidia.com/gpu": "1"}

    [problem] = _errors(document)

    assert problem.path == "spec.roles[1].resources.limits.nvidia.com/gpu"
    assert "as a limit" in problem.message


def test_more_gpus_than_any_node_has_are_refused() -> None:
    # The GPU app says no node of the site has more than 8 GPUs (configMeta).
    document = tf.wire()
    tf.role_doc(document, "chief")["resources"]["limits"]["nvidia.com/gpu"] = "9"

    [problem] = _errors(document)

    assert problem.path == "spec.roles[0].resources.limits.nvidia.com/gpu"
    assert "no node has more than 8" in problem.message


def test_the_cluster_can_state_a_smaller_node_capacity() -> None:
    document = tf.wire()
    document["metadata"]["annotations"]["tensorflow.kubedirector.io/max-gpus-per-node"] = "1"
    tf.role_doc(document, "worker")["resources"]["limits"]["nvidia.com/gpu"] = "2"

    [problem] = _errors(document)

    assert "no node has more than 1" in problem.message


def test_gpus_on_parameter_servers_are_only_a_warning() -> None:
    document = tf.wire()
    tf.add_role(document, "ps", 1)
    tf.role_doc(document, "ps")["resources"]["limits"]["nvidia.com/gpu"] = "1"

    [problem] = _problems(document)

    assert problem.severity is kd.Severity.WARNING
    assert problem.path == "spec.roles[2].resources.limits.nvidia.com/gpu"
    assert "sit idle" in problem.message


def test_a_hand_set_nvidia_visible_devices_is_warned_about() -> None:
    document = tf.wire()
    tf.role_doc(document, "worker")["env"] = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]

    [problem] = _problems(document)

    assert problem.severity is kd.Severity.WARNING
    assert problem.path == "spec.roles[1].env[0]"


def test_a_malformed_gpu_memory_names_where_it_was_read() -> None:
    document = tf.wire()
    tf.role_doc(document, "worker")["podAnnotations"] = {MEMORY: "40GB"}

    [problem] = _errors(document)

    assert problem.path == f"spec.roles[1].podAnnotations.{MEMORY}"
    assert "not a whole number" in problem.message


# ---------------------------------------------------------------------------
# The rendered pods
# ---------------------------------------------------------------------------


def test_gpu_members_request_and_limit_whole_gpus_and_tolerate_the_gpu_taint() -> None:
    worker = tf.statefulset(tf.app(), tf.cluster(), "worker")
    pod = tf.pod_spec(worker)
    resources = pod["containers"][0]["resources"]

    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [GPU_TOLERATION]


def test_the_selected_gpu_product_becomes_required_node_affinity() -> None:
    worker = tf.statefulset(tf.app(), tf.cluster(), "worker")
    affinity = tf.pod_spec(worker)["affinity"]["nodeAffinity"]
    [term] = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]

    assert term["matchExpressions"] == [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A100-SXM4-40GB"]}
    ]


def test_gpu_memory_selects_nodes_with_at_least_that_much() -> None:
    document = tf.wire()
    del document["metadata"]["annotations"][PRODUCT]
    document["metadata"]["annotations"][MEMORY] = "40960"
    worker = tf.statefulset(tf.app(), tf.cluster(document), "worker")
    required = tf.pod_spec(worker)["affinity"]["nodeAffinity"]
    [term] = required["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]

    assert term["matchExpressions"] == [
        {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40959"]}
    ]


def test_a_role_overrides_the_cluster_gpu_product_and_keeps_the_users_affinity() -> None:
    document = tf.wire()
    worker_doc = tf.role_doc(document, "worker")
    worker_doc["podAnnotations"] = {PRODUCT: "NVIDIA-H100-80GB-HBM3, NVIDIA-A100-SXM4-80GB"}
    zone = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
    worker_doc["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [zone]}]
            }
        }
    }
    the_cluster = tf.cluster(document)
    objects = tf.hooks().pre_create(
        tf.app(), the_cluster, the_cluster.spec.roles[1], _objects_with_affinity(the_cluster)
    )
    pod = objects[0]["spec"]["template"]["spec"]
    [term] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]

    assert term["matchExpressions"] == [
        zone,
        {
            "key": "nvidia.com/gpu.product",
            "operator": "In",
            "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3"],
        },
    ]


def _objects_with_affinity(the_cluster: kd.KubeDirectorCluster) -> list[dict[str, Any]]:
    """What the renderer gives a role with an affinity: it copies the role's affinity."""
    role = the_cluster.spec.roles[1]
    objects = sample_role_objects(the_cluster, role)
    objects[0]["spec"]["template"]["spec"]["affinity"] = role.affinity
    return objects


def test_members_are_spread_over_nodes_by_default() -> None:
    worker = tf.statefulset(tf.app(), tf.cluster(), "worker")
    [constraint] = tf.pod_spec(worker)["topologySpreadConstraints"]

    assert constraint["topologyKey"] == "kubernetes.io/hostname"
    assert constraint["maxSkew"] == 1
    # A preference: a hard spread could deadlock a gang the core admitted as fitting.
    assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    assert constraint["labelSelector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    assert constraint["nodeTaintsPolicy"] == "Honor"


def test_pack_prefers_nodes_already_running_the_role() -> None:
    document = tf.wire()
    document["metadata"]["annotations"][PLACEMENT] = "pack"
    pod = tf.pod_spec(tf.statefulset(tf.app(), tf.cluster(document), "worker"))

    assert "topologySpreadConstraints" not in pod
    [preferred] = pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_cpu_members_cannot_see_the_gpus_of_their_node() -> None:
    cpu_cluster = tf.cluster(tf.CPU_CLUSTER)
    ps = tf.statefulset(tf.app(tf.CPU_APP), cpu_cluster, "ps")
    pod = tf.pod_spec(ps)

    assert tf.env_of(ps)["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert "tolerations" not in pod
    assert "nvidia.com/gpu" not in pod["containers"][0].get("resources", {}).get("limits", {})


def test_gpu_members_leave_nvidia_visible_devices_to_the_device_plugin() -> None:
    the_cluster = tf.cluster()
    role = the_cluster.spec.roles[1]
    objects = sample_role_objects(the_cluster, role)
    objects[0]["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}
    ]
    [rendered, _service] = tf.hooks().pre_create(tf.app(), the_cluster, role, objects)

    assert "NVIDIA_VISIBLE_DEVICES" not in tf.env_of(rendered)


def test_rendering_twice_adds_nothing_twice() -> None:
    the_app, the_cluster = tf.app(), tf.cluster()
    role = the_cluster.spec.roles[1]
    once = tf.hooks().pre_create(
        the_app, the_cluster, role, [tf.statefulset(the_app, the_cluster, "worker")]
    )

    assert once == [tf.statefulset(the_app, the_cluster, "worker")]


def test_the_notebook_app_of_kubedirector_gets_its_gpu_scheduled_too() -> None:
    notebook = tf.app()
    notebook = notebook.model_copy(deep=True)
    notebook.spec.roles = [notebook.spec.roles[0].model_copy(update={"id": "controller"})]
    notebook.spec.config.selected_roles = ["controller"]
    notebook.spec.config.role_services = []
    document = tf.wire()
    document["spec"]["roles"] = [tf.role_doc(document, "chief") | {"id": "controller"}]
    the_cluster = tf.cluster(document)
    rendered = tf.statefulset(notebook, the_cluster, "controller")

    assert tf.pod_spec(rendered)["tolerations"] == [GPU_TOLERATION]
    assert "TF_CONFIG_FILE" not in tf.env_of(rendered)
    assert tf.hooks().gang_policy(notebook, the_cluster) is None


def test_the_cores_renderer_output_gets_the_same_scheduling() -> None:
    plan = pytest.importorskip("kubedirector_core.plan")
    if not hasattr(plan, "render_objects"):
        pytest.skip("the core cannot render clusters offline yet")
    objects = plan.render_objects(tf.app(), tf.cluster(), tf.hooks())
    [worker] = [
        o for o in objects if o["kind"] == "StatefulSet" and "-worker" in o["metadata"]["name"]
    ]
    pod = tf.pod_spec(worker)
    [term] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]

    assert pod["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [GPU_TOLERATION]
    assert term["matchExpressions"][0]["values"] == ["NVIDIA-A100-SXM4-40GB"]
    [spread] = pod["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
