"""A tiny stand-in for the runtime: pods follow StatefulSets, actions "run" in memory.

It does what ``runtime/`` promises to do with a :class:`Plan` and nothing
more: pods 0..replicas-1 of each StatefulSet exist and run; each action is
run against a per-pod set of done keys (as the guest script keeps them),
its outcome is folded in with ``record_outcome``, and the status is written
back into the cluster. ``calls`` lists what really ran in each member
(skips of done keys excluded), which is what a recording startscript sees.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plan import (
    ActionKind,
    ActionOutcome,
    ConnectedObject,
    MemberAction,
    Observed,
    ObservedNode,
    ObservedPod,
    Plan,
    plan_cluster,
    record_outcome,
)
from kubedirector_core.plan.names import ROLE_LABEL
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.plugins import Hooks

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Runner = Callable[[MemberAction], ActionOutcome]


def succeed(action: MemberAction) -> ActionOutcome:
    """Every action exits 0."""
    return ActionOutcome(action=action, exit_code=0, output_tail="ok")


@dataclass
class Call:
    """An action that really ran in a member (not skipped by its done key)."""

    member: str
    kind: ActionKind
    key: str
    arguments: tuple[str, ...]


@dataclass
class Sim:
    """A cluster reconciled by a simulated runtime."""

    app: KubeDirectorApp
    cluster: dict[str, Any]
    hooks: Hooks
    runner: Runner = succeed
    persistent: bool = False
    pods: dict[str, ObservedPod] = field(default_factory=dict)
    done: dict[str, set[str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    now: datetime = START
    nodes: dict[str, ObservedNode] = field(default_factory=dict)
    nodes_known: bool = False
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Pods deleted as the plans asked: (pod, uid, force).
    deleted: list[tuple[str, str, bool]] = field(default_factory=list)
    #: The operator's KubeDirectorConfig, as the runtime hands it over.
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    #: ConfigMaps and Secrets that exist in the namespace (wire form), by name; a
    #: connected one reaches the planner as the runtime hands it over.
    configmaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: How many times the runtime read the connected Secrets (a re-plan each).
    secret_reads: int = 0

    def observed(self, *, with_secrets: bool = False) -> Observed:
        """The observation the runtime would build now (Secrets only ``with_secrets``)."""
        connections = self.cluster["spec"].get("connections") or {}
        configmaps = {
            name: ConnectedObject.from_wire(self.configmaps[name])
            for name in connections.get("configmaps") or []
            if name in self.configmaps
        }
        secrets = {
            name: ConnectedObject.from_wire(self.secrets[name])
            for name in connections.get("secrets") or []
            if name in self.secrets
        }
        versions = {
            f"{kind}/{name}": str(body["metadata"]["resourceVersion"])
            for kind, objects in (("ConfigMap", self.configmaps), ("Secret", self.secrets))
            for name, body in objects.items()
        }
        return Observed(
            connected_configmaps=configmaps,
            connected_secrets=secrets if with_secrets else None,
            connected_config_versions=versions,
            cluster=KubeDirectorCluster.from_wire(self.cluster),
            app=self.app,
            now=self.now,
            pods=dict(self.pods),
            nodes=dict(self.nodes),
            nodes_known=self.nodes_known,
            metrics=copy.deepcopy(self.metrics),
            settings=self.settings,
        )

    def plan(self) -> Plan:
        """Plan without acting; again with the Secrets read when the plan asks, as the runtime."""
        plan = plan_cluster(self.observed(), self.hooks)
        if plan.needs_connected_secrets:
            self.secret_reads += 1
            plan = plan_cluster(self.observed(with_secrets=True), self.hooks)
        return plan

    def step(self, *, crash_after_actions: bool = False) -> Plan:
        """Plan, apply objects, run actions and write the status (unless crashing)."""
        plan = self.plan()
        self.plans.append(plan)
        self._apply(plan)
        status = dict(plan.status)
        for action in plan.actions:
            outcome = self._run(action)
            status = record_outcome(status, outcome, self.now)
        if not crash_after_actions:
            self.cluster["status"] = status
        self.now += timedelta(seconds=1)
        return plan

    def converge(self, limit: int = 30) -> Plan:
        """Step until a plan has no actions and changes nothing; return that plan."""
        for _ in range(limit):
            before = copy.deepcopy(self.cluster.get("status"))
            plan = self.step()
            if not plan.actions and plan.status == before:
                return plan
        raise AssertionError("the cluster did not converge")

    def resize(self, role_id: str, members: int) -> None:
        """Change a role's member count and bump the generation, as an update would."""
        for role in self.cluster["spec"]["roles"]:
            if role["id"] == role_id:
                role["members"] = members
        self.cluster["metadata"]["generation"] += 1

    def restart(self, pod: str, *, lose_disk: bool | None = None) -> None:
        """Give ``pod`` a new container; without persistent storage it loses its done keys."""
        self.restarts[pod] = self.restarts.get(pod, 0) + 1
        old = self.pods[pod]
        self.pods[pod] = ObservedPod(
            **{**old.__dict__, "container_id": f"{pod}/{self.restarts[pod]}"}
        )
        lose = (not self.persistent) if lose_disk is None else lose_disk
        if lose:
            self.done.pop(pod, None)

    def calls_of(self, kind: ActionKind) -> list[Call]:
        """The calls of one kind, in order."""
        return [call for call in self.calls if call.kind is kind]

    def _run(self, action: MemberAction) -> ActionOutcome:
        done = self.done.setdefault(action.member, set())
        if action.key in done:
            return ActionOutcome(action=action, exit_code=0, output_tail="already done")
        outcome = self.runner(action)
        if outcome.exit_code is not None:
            self.calls.append(Call(action.member, action.kind, action.key, action.command[6:]))
        if outcome.succeeded:
            done.add(action.key)
        return outcome

    def move(self, pod: str, node: str) -> None:
        """Say that ``pod`` runs on ``node``."""
        self.pods[pod] = ObservedPod(**{**self.pods[pod].__dict__, "node_name": node})

    def _delete_pods(self, plan: Plan) -> None:
        """Pod deletions: a pod on a node that cannot confirm stays Terminating unless forced."""
        for deletion in plan.pod_deletions:
            pod = self.pods.get(deletion.pod)
            if pod is None or pod.uid != deletion.uid:
                continue
            self.deleted.append((deletion.pod, deletion.uid, deletion.force))
            node = self.nodes.get(pod.node_name or "")
            healthy = (node is None and not self.nodes_known) or (node is not None and node.ready)
            if deletion.force or healthy:
                del self.pods[deletion.pod]
                self.restarts[deletion.pod] = self.restarts.get(deletion.pod, 0) + 1
            else:
                self.pods[deletion.pod] = ObservedPod(**{**pod.__dict__, "deleting": True})

    def _apply(self, plan: Plan) -> None:
        self._delete_pods(plan)
        for ref in plan.deletions:
            if ref.kind == "PersistentVolumeClaim":
                pod = ref.name.removeprefix("p-")
                self.done.pop(pod, None)
        wanted: dict[str, str] = {}
        for manifest in plan.objects:
            if manifest["kind"] != "StatefulSet":
                continue
            name = manifest["metadata"]["name"]
            role = manifest["spec"]["template"]["metadata"]["labels"][ROLE_LABEL]
            for ordinal in range(manifest["spec"]["replicas"]):
                wanted[f"{name}-{ordinal}"] = role
        for pod in list(self.pods):
            if pod not in wanted:
                del self.pods[pod]
                if not self.persistent:
                    self.done.pop(pod, None)
        for pod, role in wanted.items():
            if pod not in self.pods:
                self.pods[pod] = ObservedPod(
                    name=pod,
                    role_id=role,
                    uid=f"uid-{pod}-{self.restarts.get(pod, 0)}",
                    node_name="node-1",
                    phase="Running",
                    ready=True,
                    container_id=f"{pod}/{self.restarts.get(pod, 0)}",
                    ip="10.0.0.1",
                )
