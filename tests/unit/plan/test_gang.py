"""Gang admission: gated pods are released all together once the whole gang fits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kubedirector_core import GangPolicy, hookimpl
from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plan import (
    GANG_GATE,
    Observed,
    ObservedNode,
    ObservedPod,
    Plan,
    Taint,
    plan_cluster,
)
from kubedirector_core.plan.names import pod_name, statefulset_name
from kubedirector_core.plan.placement import PodNeeds, eligible, tolerates

from .conftest import cluster_wire, isolated_hooks
from .simulate import START

PRODUCT = "nvidia.com/gpu.product"
GPU_WORKER = {
    "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
    "requests": {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": "1"},
}


class Trainer:
    """Gang-admits the workers; puts them on nodes of one GPU product, tolerating GPU taints."""

    def __init__(self, gang: bool = True, minimum: int = 3) -> None:
        self.gang = gang
        self.minimum = minimum

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_gang_policy(self) -> GangPolicy | None:
        return GangPolicy(min_members={"worker": self.minimum}) if self.gang else None

    @hookimpl
    def kd_pre_create(self, role: Any, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if role.id == "worker":
            for manifest in objects:
                if manifest["kind"] == "StatefulSet":
                    spec = manifest["spec"]["template"]["spec"]
                    spec["nodeSelector"] = {PRODUCT: "A100"}
                    spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
        return objects


def _cluster(workers: int = 3) -> KubeDirectorCluster:
    document = cluster_wire()
    for role in document["spec"]["roles"]:
        if role["id"] == "worker":
            role["members"] = workers
            role["resources"] = GPU_WORKER
    return KubeDirectorCluster.from_wire(document)


def _gpu_node(name: str, gpus: int, used: int = 0, product: str = "A100") -> ObservedNode:
    return ObservedNode(
        name=name,
        ready=True,
        unreachable=False,
        labels={PRODUCT: product},
        taints=(Taint("nvidia.com/gpu", "present", "NoSchedule"),),
        allocatable={"cpu": 32.0, "memory": 256.0 * 2**30, "nvidia.com/gpu": float(gpus)},
        used={"nvidia.com/gpu": float(used)},
    )


def _cpu_node(name: str) -> ObservedNode:
    return ObservedNode(
        name=name,
        ready=True,
        unreachable=False,
        allocatable={"cpu": 64.0, "memory": 512.0 * 2**30},
    )


def _worker_pods(
    cluster: KubeDirectorCluster, count: int, *, gated: bool = True
) -> dict[str, ObservedPod]:
    statefulset = statefulset_name(cluster, "worker")
    pods = {}
    for ordinal in range(count):
        name = pod_name(statefulset, ordinal)
        pods[name] = ObservedPod(
            name=name,
            role_id="worker",
            uid=f"uid-{name}",
            node_name=None,
            phase="Pending",
            ready=False,
            container_id=None,
            ip=None,
            gated=gated,
        )
    return pods


def _plan(app: KubeDirectorApp, cluster: KubeDirectorCluster, trainer: Trainer, **kw: Any) -> Plan:
    now = kw.pop("now", START)
    observed = Observed(cluster=cluster, app=app, now=now, ungate_supported=True, **kw)
    return plan_cluster(observed, isolated_hooks(("trainer", trainer)))


def _gates(plan: Plan, role: str) -> list[dict[str, str]]:
    [statefulset] = [
        o
        for o in plan.objects
        if o["kind"] == "StatefulSet"
        and o["spec"]["template"]["metadata"]["labels"]["kubedirector.hpe.com/role"] == role
    ]
    gates: list[dict[str, str]] = statefulset["spec"]["template"]["spec"].get("schedulingGates", [])
    return gates


def _admitted(plan: Plan) -> dict[str, Any]:
    return next(c for c in plan.status["conditions"] if c["type"] == "Admitted")


def test_only_the_gangs_roles_are_created_gated(app: KubeDirectorApp) -> None:
    plan = _plan(app, _cluster(), Trainer())
    assert _gates(plan, "worker") == [{"name": GANG_GATE}]
    assert _gates(plan, "master") == []


def test_nothing_is_gated_while_the_runtime_cannot_lift_gates(app: KubeDirectorApp) -> None:
    observed = Observed(cluster=_cluster(), app=app, now=START)
    plan = plan_cluster(observed, isolated_hooks(("trainer", Trainer())))
    assert _gates(plan, "worker") == []
    assert all(c["type"] != "Admitted" for c in plan.status["conditions"])


def test_no_gang_policy_means_no_gates_and_earlier_gates_are_lifted(app: KubeDirectorApp) -> None:
    cluster = _cluster()
    plan = _plan(app, cluster, Trainer(gang=False), pods=_worker_pods(cluster, 3))
    assert _gates(plan, "worker") == []
    assert len(plan.ungate) == 3
    assert all(c["type"] != "Admitted" for c in plan.status["conditions"])


def test_nothing_starts_while_the_gpus_fall_short_and_status_says_what_is_missing(
    app: KubeDirectorApp,
) -> None:
    cluster = _cluster(workers=5)
    nodes = {
        "gpu-a": _gpu_node("gpu-a", gpus=4, used=1),
        "gpu-v": _gpu_node("gpu-v", gpus=8, product="V100"),
        "cpu-1": _cpu_node("cpu-1"),
    }
    trainer = Trainer(minimum=5)
    plan = _plan(app, cluster, trainer, pods=_worker_pods(cluster, 5), nodes=nodes)
    assert plan.ungate == ()
    admitted = _admitted(plan)
    assert admitted["status"] == "False"
    assert admitted["reason"] == "InsufficientCapacity"
    assert admitted["message"] == (
        f"role worker needs 5 x nvidia.com/gpu (1 each) on nodes with {PRODUCT}=A100; 3 free"
    )
    assert [e.reason for e in plan.events].count("InsufficientCapacity") == 1
    assert plan.requeue_after is not None
    nodes["gpu-a2"] = _gpu_node("gpu-a2", gpus=2)
    plan = _plan(app, cluster, trainer, pods=_worker_pods(cluster, 5), nodes=nodes)
    assert len(plan.ungate) == 5
    assert _admitted(plan)["status"] == "True"


def test_a_pod_larger_than_any_node_is_named_as_such_not_as_waiting_for_room(
    app: KubeDirectorApp,
) -> None:
    document = _cluster().to_wire()
    for role in document["spec"]["roles"]:
        if role["id"] == "worker":
            role["resources"] = {"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "16"}}
    cluster = KubeDirectorCluster.from_wire(document)
    nodes = {f"gpu-{i}": _gpu_node(f"gpu-{i}", gpus=8) for i in range(4)}
    nodes["gpu-big"] = _gpu_node("gpu-big", gpus=32, product="H100")

    plan = _plan(app, cluster, Trainer(), pods=_worker_pods(cluster, 3), nodes=nodes)

    assert plan.ungate == ()
    assert _admitted(plan)["message"] == (
        f"role worker needs 16 nvidia.com/gpu per pod on nodes with {PRODUCT}=A100, more than "
        "any such node has (the most: 8); ask for less per pod"
    )


def test_a_gang_waits_for_all_its_pods_to_exist(app: KubeDirectorApp) -> None:
    cluster = _cluster()
    nodes = {"gpu-a": _gpu_node("gpu-a", gpus=8)}
    plan = _plan(app, cluster, Trainer(), pods=_worker_pods(cluster, 2), nodes=nodes)
    assert plan.ungate == ()
    assert _admitted(plan)["reason"] == "WaitingForPods"
    assert "2 of 3" in _admitted(plan)["message"]


def test_an_untolerated_taint_keeps_the_gang_gated(app: KubeDirectorApp) -> None:
    cluster = _cluster()
    tainted = _gpu_node("gpu-a", gpus=8)
    tainted = ObservedNode(**{**tainted.__dict__, "taints": (Taint("dedicated", "ml"),)})
    plan = _plan(app, cluster, Trainer(), pods=_worker_pods(cluster, 3), nodes={"a": tainted})
    assert plan.ungate == ()
    assert "no ready node matches" in _admitted(plan)["message"]


def test_a_replaced_member_of_an_admitted_gang_needs_only_its_own_room(
    app: KubeDirectorApp,
) -> None:
    cluster = _cluster()
    pods = _worker_pods(cluster, 3, gated=False)
    [last] = list(_worker_pods(cluster, 3).values())[2:]
    pods[last.name] = last
    nodes = {"gpu-a": _gpu_node("gpu-a", gpus=3, used=2)}
    plan = _plan(app, cluster, Trainer(), pods=pods, nodes=nodes)
    assert plan.ungate == (last.name,)


def test_a_gang_waiting_past_its_timeout_is_reported(app: KubeDirectorApp) -> None:
    cluster = _cluster()
    trainer = Trainer()
    pods = _worker_pods(cluster, 3)
    first = _plan(app, cluster, trainer, pods=pods)
    document = cluster.to_wire()
    document["status"] = dict(first.status)
    later = START + timedelta(seconds=601)
    plan = _plan(app, KubeDirectorCluster.from_wire(document), trainer, pods=pods, now=later)
    assert _admitted(plan)["reason"] == "GangTimedOut"
    assert "GangTimedOut" in [e.reason for e in plan.events]


def test_tolerations_follow_kubernetes_matching() -> None:
    taint = Taint("nvidia.com/gpu", "present", "NoSchedule")
    assert tolerates([{"key": "nvidia.com/gpu", "operator": "Exists"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert tolerates([{"key": "nvidia.com/gpu", "value": "present"}], taint)
    assert not tolerates([{"key": "nvidia.com/gpu", "value": "absent"}], taint)
    assert not tolerates(
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}], taint
    )


def test_required_node_affinity_is_honoured() -> None:
    node = ObservedNode(name="n", ready=True, unreachable=False, labels={"gpu": "8", "zone": "a"})
    terms = (
        ({"key": "zone", "operator": "In", "values": ["b"]},),
        (
            {"key": "gpu", "operator": "Gt", "values": ["4"]},
            {"key": "x", "operator": "DoesNotExist"},
        ),
    )
    assert eligible(PodNeeds(pod="p", role="r", requests={}, terms=terms), node)
    assert not eligible(PodNeeds(pod="p", role="r", requests={}, terms=terms[:1]), node)
