"""Members on failed nodes: detected, decided by policy, replaced safely, recorded."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from kubedirector_core import NodeDown, NodeDownAction, NodeDownDecision, NodeProblem, hookimpl
from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.plan import ActionKind, Observed, ObservedNode, Plan
from kubedirector_core.plan.model import PinnedClaim, Taint
from kubedirector_core.plan.nodedown import (
    OUT_OF_SERVICE_TAINT,
    VOLUME_RECREATED_REASON,
    may_force,
    pinned_node,
)

from .conftest import cluster_wire, isolated_hooks
from .simulate import Sim


def _node(
    name: str,
    *,
    ready: bool = True,
    sim: Sim,
    down_for: float = 0.0,
    taints: tuple[Taint, ...] = (),
) -> ObservedNode:
    return ObservedNode(
        name=name,
        ready=ready,
        unreachable=False,
        ready_since=sim.now - timedelta(seconds=down_for),
        taints=taints,
    )


def _unreachable(name: str, *, sim: Sim, down_for: float, **extra: Any) -> ObservedNode:
    """A node whose heartbeat stopped: Ready Unknown, tainted unreachable."""
    return ObservedNode(
        name=name,
        ready=False,
        ready_unknown=True,
        unreachable=True,
        ready_since=sim.now - timedelta(seconds=down_for),
        **extra,
    )


OUT_OF_SERVICE = Taint(OUT_OF_SERVICE_TAINT, "nodeshutdown", "NoExecute")


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


def _replace(sim: Sim) -> tuple[Plan, Plan]:
    """A decision to replace: recorded by one reconcile, carried out by the next."""
    decided = sim.step()
    assert decided.pod_deletions == ()  # the record is written before anything is deleted
    assert decided.requeue_after == 0.0
    assert any(r["phase"] == "replacing" for r in _records(sim))
    return decided, sim.step()


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
    _, plan = _replace(sim)
    [deletion] = plan.pod_deletions
    assert (deletion.pod, deletion.force) == (lost, False)  # the node may still come back
    [record] = _records(sim)
    assert record["decision"] == "replace-member"
    assert "force" not in record
    assert "delete the Node, or taint it node.kubernetes.io/out-of-service" in record["waitingFor"]
    [blocked] = _events(plan, "NodeDownBlocked")
    assert blocked.startswith(f"member {lost}: waiting for node node-2 to be confirmed gone")
    assert sim.pods[lost].deleting  # Terminating on a node that cannot confirm
    plan = sim.step()
    assert plan.pod_deletions == ()  # still not forced while the node exists
    assert _events(plan, "NodeDownBlocked") == []  # said once
    del sim.nodes["node-2"]  # the node is confirmed gone
    plan = sim.step()
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    assert "waitingFor" not in _records(sim)[0]
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
    _, plan = _replace(sim)
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
    _, plan = _replace(sim)
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
    assert [d.pod for d in _replace(sim)[1].pod_deletions] == [lost]
    assert _records(sim)[0]["problem"] == "unreachable"


class ForcedReplace:
    """Replaces a member after the grace and allows forced deletion (a stateless worker)."""

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_on_node_down(self, event: NodeDown) -> NodeDownDecision | None:
        if event.down_for_seconds < event.grace_seconds:
            return None
        return NodeDownDecision.replace_member("workers are stateless", force=True)


def test_a_forcing_policy_replaces_a_member_on_a_present_unreachable_node(
    app: KubeDirectorApp,
) -> None:
    sim = _sim(app, ("stateless", ForcedReplace()))
    lost = _worker(sim, 1)
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=10)
    assert sim.step().pod_deletions == ()  # within the grace the default waits
    sim.now += timedelta(seconds=60)
    decided, plan = _replace(sim)
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    [record] = _records(sim)
    assert (record["plugin"], record["force"], record["phase"]) == ("stateless", True, "replacing")
    assert "waitingFor" not in record
    assert _events(plan, "NodeDownBlocked") == []
    [told] = _events(decided, "NodeDown")
    assert "replace-member, deleting forcibly as the policy allows (decided by stateless" in told
    sim.converge()
    assert sim.pods[lost].node_name == "node-1"  # back on a healthy node, node-2 still there
    assert "node-2" in sim.nodes
    assert _records(sim)[0]["phase"] == "done"
    assert [(m, f) for m, _, f in sim.deleted] == [(lost, True)]


def test_an_out_of_service_taint_lets_the_default_policy_replace(app: KubeDirectorApp) -> None:
    sim = _sim(app)
    lost = _worker(sim, 0)
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=61)
    _, plan = _replace(sim)
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, False)]
    assert _records(sim)[0]["waitingFor"]
    # A person confirms the node is shut down: Kubernetes' non-graceful node shutdown.
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=70, taints=(OUT_OF_SERVICE,))
    plan = sim.step()
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    assert "waitingFor" not in _records(sim)[0]
    sim.converge()
    assert sim.pods[lost].node_name == "node-1"
    assert _records(sim)[0]["phase"] == "done"


def test_the_policy_hears_of_the_out_of_service_taint(app: KubeDirectorApp) -> None:
    heard: list[NodeDown] = []

    class Listener:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("example/*",)

        @hookimpl
        def kd_on_node_down(self, event: NodeDown) -> None:
            heard.append(event)

    sim = _sim(app, ("listener", Listener()))
    sim.move(_worker(sim, 0), "node-2")
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=1, taints=(OUT_OF_SERVICE,))
    sim.step()
    assert [(e.problem, e.out_of_service) for e in heard] == [(NodeProblem.UNREACHABLE, True)]


class ForcedRoleRestart:
    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_on_node_down(self, event: NodeDown) -> NodeDownDecision:
        return NodeDownDecision.restart_role("restart together", force=True)


def test_force_never_reaches_pods_on_healthy_nodes(app: KubeDirectorApp) -> None:
    sim = _sim(app, ("group", ForcedRoleRestart()))
    lost = _worker(sim, 0)
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=5)
    _, plan = _replace(sim)
    forced = {d.pod: d.force for d in plan.pod_deletions}
    assert forced.pop(lost) is True
    assert forced  # the healthy workers, deleted gracefully:
    assert not any(forced.values())
    sim.converge()
    assert all(sim.pods[p].node_name == "node-1" for p in sim.pods if "-worker-" in p)


def _with_node(sim: Sim, node: ObservedNode | None, *, known: bool = True) -> Any:
    sim.nodes = {"node-1": _node("node-1", sim=sim)}
    if node is not None:
        sim.nodes[node.name] = node
    sim.nodes_known = known
    return sim.observed()


@pytest.mark.parametrize(
    ("state", "opted_in", "forced"),
    [
        ("healthy", False, False),
        ("healthy", True, False),
        ("not-ready", False, False),
        ("not-ready", True, True),
        ("unreachable", False, False),
        ("unreachable", True, True),
        ("out-of-service", False, True),
        ("gone", False, True),
        ("unknown-to-the-cache", True, False),
    ],
)
def test_the_force_rule(app: KubeDirectorApp, state: str, opted_in: bool, forced: bool) -> None:
    sim = _sim(app)
    pod = sim.pods[_worker(sim, 0)]
    pod = type(pod)(**{**pod.__dict__, "node_name": "node-x"})
    node = {
        "healthy": _node("node-x", sim=sim),
        "not-ready": _node("node-x", ready=False, sim=sim),
        "unreachable": _unreachable("node-x", sim=sim, down_for=1),
        "out-of-service": _unreachable("node-x", sim=sim, down_for=1, taints=(OUT_OF_SERVICE,)),
    }.get(state)
    observed = _with_node(sim, node, known=state != "unknown-to-the-cache")
    assert may_force(observed, pod, opted_in=opted_in) is forced


def test_a_wait_decision_cannot_force() -> None:
    with pytest.raises(ValueError, match="force applies to a replace or restart decision"):
        NodeDownDecision(
            action=NodeDownAction.WAIT, reason="hold on", retry_after_seconds=5, force=True
        )


def test_an_operator_dying_around_the_deletion_still_follows_the_member_back(
    app: KubeDirectorApp,
) -> None:
    sim = _sim(app, ("stateless", ForcedReplace()))
    lost = _worker(sim, 2)
    old_uid = sim.pods[lost].uid
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=61)
    announced = len(sim.calls_of(ActionKind.ADDNODES))
    # Died before its status was written: nothing was deleted either.
    assert sim.step(crash_after_actions=True).pod_deletions == ()
    assert _records(sim) == []
    sim.step()  # decided again, and recorded
    # Died right after deleting the pod, before writing the status.
    deleting = sim.step(crash_after_actions=True)
    assert [(d.pod, d.uid, d.force) for d in deleting.pod_deletions] == [(lost, old_uid, True)]
    new_uid = sim.pods[lost].uid  # the StatefulSet re-created it meanwhile
    assert new_uid != old_uid
    sim.converge()
    assert [uid for member, uid, _ in sim.deleted if member == lost] == [old_uid]
    assert sim.pods[lost].uid == new_uid  # the replacement was never deleted
    [record] = _records(sim)
    assert (record["phase"], record["podUID"], record["force"]) == ("done", old_uid, True)
    told = [
        c.member
        for c in sim.calls_of(ActionKind.ADDNODES)[announced:]
        if lost in " ".join(c.arguments)
    ]
    assert told  # the others heard it is back, each once
    assert len(told) == len(set(told))


# -- volumes that cannot follow the member ----------------------------------------------


@dataclass
class LocalVolumeSim(Sim):
    """Members' claims bound to local volumes: each pinned to the node its pod first ran on.

    The runtime reports a claim in ``Observed.pinned_claims`` only for a member
    on a gone or out-of-service node; deleting a claim gives the member a fresh,
    empty volume (its done keys are lost) on whichever node its new pod lands.
    """

    #: pod -> (claim uid, node its volume is pinned to)
    volumes: dict[str, tuple[str, str]] = field(default_factory=dict)
    claims_deleted: list[tuple[str, str, str]] = field(default_factory=list)

    def observed(self) -> Observed:
        observed = super().observed()
        pinned = {
            f"p-{pod.name}": PinnedClaim(pod=pod.name, uid=uid, volume=f"pv-{uid}", node=node)
            for pod in observed.pods.values()
            if (volume := self.volumes.get(pod.name)) is not None
            for uid, node in [volume]
            if pod.node_name == node and (node not in self.nodes or node == "node-oos")
        }
        return dataclasses.replace(observed, pinned_claims=pinned)

    def _apply(self, plan: Plan) -> None:
        for deletion in plan.claim_deletions:
            if self.volumes.get(deletion.pod, ("",))[0] != deletion.uid:
                continue
            self.claims_deleted.append((deletion.claim, deletion.uid, deletion.pod))
            self.volumes[deletion.pod] = (f"{deletion.uid}-new", "node-1")
            self.done.pop(deletion.pod, None)  # a new, empty volume
        super()._apply(plan)


def _local_sim(app: KubeDirectorApp, *plugins: tuple[str, object]) -> LocalVolumeSim:
    document = cluster_wire()
    document["spec"]["nodeDownGraceSeconds"] = 60
    sim = LocalVolumeSim(app=app, cluster=document, hooks=isolated_hooks(*plugins), persistent=True)
    sim.nodes = {"node-1": _node("node-1", sim=sim), "node-2": _node("node-2", sim=sim)}
    sim.nodes_known = True
    sim.converge()
    return sim


def _configured(sim: Sim, pod: str) -> int:
    return len([c for c in sim.calls_of(ActionKind.CONFIGURE) if c.member == pod])


def test_a_volume_pinned_to_a_deleted_node_is_recreated_with_the_member(
    app: KubeDirectorApp,
) -> None:
    sim = _local_sim(app)
    lost, other = _worker(sim, 0), _worker(sim, 1)
    sim.volumes = {lost: ("claim-a", "node-gone"), other: ("claim-b", "node-1")}
    sim.move(lost, "node-gone")
    configured = _configured(sim, lost)
    decided, plan = _replace(sim)
    assert decided.claim_deletions == ()  # decided first, like the pod
    [claim] = plan.claim_deletions
    assert (claim.claim, claim.uid, claim.pod) == (f"p-{lost}", "claim-a", lost)
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    [record] = _records(sim)
    assert record["volumeRecreated"] is True
    assert record["recreatedClaims"] == [f"p-{lost}"]
    assert "which only node node-gone can reach" in record["volumeReason"]
    [told] = _events(plan, VOLUME_RECREATED_REASON)
    assert told.startswith(f"member {lost}: claim p-{lost} is bound to volume pv-claim-a")
    sim.converge()
    assert sim.pods[lost].node_name == "node-1"
    assert _records(sim)[0]["phase"] == "done"
    assert _configured(sim, lost) == configured + 1  # set up afresh on the empty volume
    assert sim.claims_deleted == [(f"p-{lost}", "claim-a", lost)]  # once; the other's kept
    assert sum(len(p.claim_deletions) for p in sim.plans) == 1


def test_an_out_of_service_node_lets_a_pinned_volume_be_recreated(app: KubeDirectorApp) -> None:
    sim = _local_sim(app)
    lost = _worker(sim, 1)
    sim.volumes = {lost: ("claim-a", "node-oos")}
    sim.move(lost, "node-oos")
    sim.nodes["node-oos"] = _unreachable("node-oos", sim=sim, down_for=61)
    _, plan = _replace(sim)
    assert plan.claim_deletions == ()  # unreachable only: it may come back with the data
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, False)]
    sim.nodes["node-oos"] = _unreachable("node-oos", sim=sim, down_for=70, taints=(OUT_OF_SERVICE,))
    plan = sim.step()
    assert [c.claim for c in plan.claim_deletions] == [f"p-{lost}"]
    assert [(d.pod, d.force) for d in plan.pod_deletions] == [(lost, True)]
    sim.converge()
    assert _records(sim)[0]["volumeRecreated"] is True


def test_a_volume_that_can_follow_is_kept(app: KubeDirectorApp) -> None:
    sim = _local_sim(app)
    lost = _worker(sim, 0)
    sim.volumes = {lost: ("claim-a", "node-elsewhere")}  # not pinned to the failed node
    sim.move(lost, "node-gone")
    configured = _configured(sim, lost)
    _, plan = _replace(sim)
    assert plan.claim_deletions == ()
    assert [d.pod for d in plan.pod_deletions] == [lost]
    sim.converge()
    assert sim.claims_deleted == []
    assert "volumeRecreated" not in _records(sim)[0]
    assert _configured(sim, lost) == configured  # its setup is on the volume it kept


def test_a_forcing_policy_never_recreates_the_volume_of_a_node_that_may_return(
    app: KubeDirectorApp,
) -> None:
    sim = _local_sim(app, ("stateless", ForcedReplace()))
    lost = _worker(sim, 2)
    sim.volumes = {lost: ("claim-a", "node-2")}
    sim.move(lost, "node-2")
    sim.nodes["node-2"] = _unreachable("node-2", sim=sim, down_for=61)
    sim.converge()
    assert [(m, f) for m, _, f in sim.deleted] == [(lost, True)]
    assert all(p.claim_deletions == () for p in sim.plans)
    assert "volumeRecreated" not in _records(sim)[0]


def _local_volume(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": list(terms)}}},
    }


def _hostname(*nodes: str, operator: str = "In") -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": operator, "values": list(nodes)}
        ]
    }


@pytest.mark.parametrize(
    ("volume", "node"),
    [
        (_local_volume(_hostname("n1")), "n1"),
        (_local_volume(_hostname("n1"), _hostname("n1")), "n1"),
        (
            _local_volume(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
            ),
            "n1",
        ),
        (_local_volume(_hostname("n1", "n2")), None),
        (_local_volume(_hostname("n1"), _hostname("n2")), None),
        (_local_volume(_hostname("n1", operator="NotIn")), None),
        (
            _local_volume(
                {
                    "matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
                    ]
                }
            ),
            None,
        ),
        ({"apiVersion": "v1", "kind": "PersistentVolume", "spec": {}}, None),
    ],
    ids=[
        "local",
        "same-node-twice",
        "by-field",
        "two-nodes",
        "either-node",
        "not-in",
        "zone",
        "no-affinity",
    ],
)
def test_which_volumes_are_pinned_to_one_node(volume: dict[str, Any], node: str | None) -> None:
    assert pinned_node(volume) == node
