"""Members on failed nodes: detected, decided by policy, replaced safely, recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kubedirector_core import NodeDown, NodeDownDecision, hookimpl
from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.plan import ActionKind, ObservedNode, Plan

from .conftest import cluster_wire, isolated_hooks
from .simulate import Sim


def _node(name: str, *, ready: bool = True, sim: Sim, down_for: float = 0.0) -> ObservedNode:
    return ObservedNode(
        name=name,
        ready=ready,
        unreachable=False,
        ready_since=sim.now - timedelta(seconds=down_for),
    )


def _sim(app: KubeDirectorApp, *plugins: tuple[str, object], grace: int = 60) -> Sim:
    document = cluster_wire()
    document["spec"]["nodeDownGraceSeconds"] = grace
    sim = Sim(app=app, cluster=document, hooks=isolated_hooks(*plugins), persistent=True)
    sim.nodes = {"node-1": _node("node-1", sim=sim), "node-2": _node("node-2", sim=sim)}
    sim.nodes_known = True
    sim.converge()
    return sim


def _worker(sim: Sim, ordinal: int) -> str:
    return next(p for p in sim.pods if "-worker-" in p and p.endswith(f"-{ordinal}"))


def _records(sim: Sim) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = sim.cluster["status"].get("nodeDown", [])
    return records


def _events(plan: Plan, reason: str) -> list[str]:
    return [e.message for e in plan.events if e.reason == reason]


def test_a_member_on_a_not_ready_node_is_replaced_after_the_grace(app: KubeDirectorApp) -> None:
    sim = _sim(app)
    lost = _worker(sim, 1)
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _node("node-2", ready=False, sim=sim, down_for=10)
    plan = sim.step()
    assert plan.pod_deletions == ()
    [record] = _records(sim)
    assert (record["member"], record["decision"], record["plugin"]) == (lost, "wait", "core")
    assert record["phase"] == "waiting"
    assert len(_events(plan, "NodeDown")) == 1
    assert plan.requeue_after is not None
    sim.now += timedelta(seconds=60)
    plan = sim.step()
    [deletion] = plan.pod_deletions
    assert (deletion.pod, deletion.force) == (lost, False)  # the node may still come back
    assert _records(sim)[0]["decision"] == "replace-member"
    assert sim.pods[lost].deleting  # Terminating on a node that cannot confirm
    del sim.nodes["node-2"]  # the node is confirmed gone
    plan = sim.step()
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    sim.converge()
    assert sim.pods[lost].node_name == "node-1"
    [record] = _records(sim)
    assert record["phase"] == "done"
    assert not any(ref.kind == "PersistentVolumeClaim" for p in sim.plans for ref in p.deletions)
    told = {c.member for c in sim.calls_of(ActionKind.ADDNODES) if lost in " ".join(c.arguments)}
    assert told  # the others (whose eventList has addnodes) heard it is back
    assert lost not in told
    assert {m for m, _, _ in sim.deleted} == {lost}


def test_a_member_whose_node_was_deleted_is_force_replaced_at_once(app: KubeDirectorApp) -> None:
    sim = _sim(app)
    lost = _worker(sim, 0)
    sim.move(lost, "node-gone")
    plan = sim.step()
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    assert _records(sim)[0]["problem"] == "gone"


def test_a_node_that_recovers_in_time_replaces_nothing(app: KubeDirectorApp) -> None:
    sim = _sim(app)
    lost = _worker(sim, 2)
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _node("node-2", ready=False, sim=sim, down_for=5)
    sim.step()
    sim.nodes["node-2"] = _node("node-2", sim=sim)
    sim.converge()
    assert _records(sim) == []
    assert sim.deleted == []


def test_unknown_nodes_are_not_taken_for_deleted_ones(app: KubeDirectorApp) -> None:
    sim = _sim(app)
    sim.nodes_known = False
    sim.move(_worker(sim, 0), "node-not-in-cache")
    assert sim.step().pod_deletions == ()


class GroupRestart:
    """Restarts the whole role when one of its members is lost."""

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_on_node_down(self, event: NodeDown) -> NodeDownDecision:
        return NodeDownDecision.restart_role(f"{event.member.role} restarts together")


def test_a_restart_role_decision_deletes_every_pod_of_the_role_once(app: KubeDirectorApp) -> None:
    sim = _sim(app, ("group", GroupRestart()))
    lost = _worker(sim, 0)
    sim.move(lost, "node-gone")
    plan = sim.step()
    workers = sorted(p for p in sim.pods if "-worker-" in p)
    assert sorted(d.pod for d in plan.pod_deletions) == workers
    assert {d.pod: d.force for d in plan.pod_deletions}[lost] is True
    assert not any(d.force for d in plan.pod_deletions if d.pod != lost)
    assert _records(sim)[0]["plugin"] == "group"
    sim.converge()
    assert len(sim.deleted) == 3  # each worker once, never its replacement


def test_a_failing_policy_deletes_nothing_and_is_reported(app: KubeDirectorApp) -> None:
    class Broken:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("example/*",)

        @hookimpl
        def kd_on_node_down(self) -> None:
            raise RuntimeError("policy offline")

    sim = _sim(app, ("broken", Broken()))
    sim.move(_worker(sim, 0), "node-gone")
    plan = sim.step()
    assert plan.pod_deletions == ()
    failed = next(c for c in plan.status["conditions"] if c["type"] == "PluginFailed")
    assert "policy offline" in failed["message"]


def test_without_a_transition_time_the_grace_counts_from_detection(app: KubeDirectorApp) -> None:
    sim = _sim(app)
    lost = _worker(sim, 0)
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = ObservedNode(name="node-2", ready=False, unreachable=True)
    assert sim.step().pod_deletions == ()
    sim.now += timedelta(seconds=30)
    assert sim.step().pod_deletions == ()
    sim.now += timedelta(seconds=31)
    assert [d.pod for d in sim.step().pod_deletions] == [lost]
    assert _records(sim)[0]["problem"] == "unreachable"
