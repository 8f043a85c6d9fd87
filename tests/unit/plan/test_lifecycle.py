"""Members through their states: creation, resize, restarts, failures, crashes."""

from __future__ import annotations

import copy
from typing import Any

from kubedirector_core import Problem, hookimpl
from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.hooktypes import ExecAction, ResizeDecision, ResizePhase, RoleResize
from kubedirector_core.plan import ActionKind, ActionOutcome, MemberAction
from kubedirector_core.plan.names import fqdn

from .conftest import app_wire, cluster_wire, isolated_hooks
from .simulate import Sim


def _states(sim: Sim) -> dict[str, str]:
    return {
        member["pod"]: member["state"]
        for role in sim.cluster["status"]["roles"]
        for member in role["members"]
    }


def _pods(sim: Sim, role_id: str) -> list[str]:
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == role_id]
    return [member["pod"] for member in role["members"]]


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def _fqdns(sim: Sim, pods: list[str]) -> str:
    from kubedirector_core.api import KubeDirectorCluster

    cluster = KubeDirectorCluster.from_wire(sim.cluster)
    return ",".join(fqdn(cluster, pod) for pod in pods)


def test_a_new_cluster_is_configured_once_per_member_and_converges(sim: Sim) -> None:
    first = sim.step()
    assert set(_states(sim).values()) == {"create pending"}
    assert first.status["state"] == "creating"
    assert [m["nodeID"] for r in first.status["roles"] for m in r["members"]] == [1, 2, 3, 4, 5]
    final = sim.converge()
    assert set(_states(sim).values()) == {"configured"}
    assert sorted(call.member for call in sim.calls_of(ActionKind.CONFIGURE)) == sorted(
        _states(sim)
    )
    assert sim.calls_of(ActionKind.ADDNODES) == []  # nobody joins a cluster being created
    status = sim.cluster["status"]
    assert status["state"] == "configured"
    assert status["membersReady"] == "5/5"
    assert status["lastNodeID"] == 5
    assert _condition(status, "Ready")["status"] == "True"
    assert _condition(status, "Progressing")["status"] == "False"
    assert _condition(status, "Degraded")["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    assert final.events == ()
    reasons = [event.reason for plan in sim.plans for event in plan.events]
    assert reasons.count("MemberConfigured") == 5
    assert reasons.count("ClusterReady") == 1


def test_a_converged_cluster_plans_nothing(sim: Sim) -> None:
    sim.converge()
    before = copy.deepcopy(sim.cluster["status"])
    objects = sim.plans[-1].objects
    again = sim.plan()
    assert again.actions == ()
    assert again.events == ()
    assert again.deletions == ()
    assert again.status == before
    assert again.objects == objects
    assert again.requeue_after is None


def test_resize_3_to_5_to_2_notifies_exactly_the_right_members(sim: Sim) -> None:
    sim.converge()
    master = _pods(sim, "master")
    workers = _pods(sim, "worker")
    sim.resize("worker", 5)
    sim.converge()
    grown = _pods(sim, "worker")
    assert grown[:3] == workers
    assert len(grown) == 5
    assert [
        m["nodeID"]
        for r in sim.cluster["status"]["roles"]
        if r["id"] == "worker"
        for m in r["members"]
    ] == [2, 3, 4, 6, 7]
    adds = sim.calls_of(ActionKind.ADDNODES)
    # edge's eventList has only "configure"; the new workers learn everything at setup.
    assert sorted(call.member for call in adds) == sorted([*master, *workers])
    expected = (
        "--addnodes",
        "--nodegroup",
        "1",
        "--role",
        "worker",
        "--fqdns",
        _fqdns(sim, grown[3:]),
    )
    assert {call.arguments for call in adds} == {expected}
    assert [c.member for c in sim.calls_of(ActionKind.CONFIGURE)][-2:] == grown[3:]

    sim.resize("worker", 2)
    sim.converge()
    assert _pods(sim, "worker") == workers[:2]
    dels = sim.calls_of(ActionKind.DELNODES)
    assert sorted(call.member for call in dels) == sorted([*master, *workers[:2]])
    expected = (
        "--delnodes",
        "--nodegroup",
        "1",
        "--role",
        "worker",
        "--fqdns",
        _fqdns(sim, grown[2:]),
    )
    assert {call.arguments for call in dels} == {expected}
    deleted = [ref.name for plan in sim.plans for ref in plan.deletions]
    assert sorted(deleted) == sorted(grown[2:])  # their Services (no storage: no claims)
    assert sim.cluster["status"]["membersReady"] == "4/4"
    assert len(sim.calls_of(ActionKind.CONFIGURE)) == 5 + 2


def test_a_crash_between_acting_and_writing_status_neither_repeats_nor_drops(sim: Sim) -> None:
    sim.converge()
    sim.resize("worker", 4)
    for _ in range(30):
        plan = sim.plan()
        # every second reconcile is killed after running its actions, before the status write
        sim.step(crash_after_actions=bool(plan.actions) and len(sim.plans) % 2 == 0)
        if not plan.actions and plan.status == sim.cluster["status"]:
            break
    sim.converge()
    configured = [call.member for call in sim.calls_of(ActionKind.CONFIGURE)]
    assert len(configured) == len(set(configured)) == 6
    adds = [call.member for call in sim.calls_of(ActionKind.ADDNODES)]
    assert sorted(adds) == sorted([*_pods(sim, "master"), *_pods(sim, "worker")[:3]])
    for _, member in _all_members(sim):
        assert "pendingNotifyCmds" not in member.get("stateDetail", {})


def _all_members(sim: Sim) -> list[tuple[str, dict[str, Any]]]:
    return [(r["id"], m) for r in sim.cluster["status"]["roles"] for m in r["members"]]


def test_the_queue_survives_an_operator_restart(sim: Sim) -> None:
    sim.converge()
    sim.resize("worker", 4)
    while not any(
        plan.actions and plan.actions[0].kind is ActionKind.ADDNODES for plan in sim.plans[-1:]
    ):
        sim.step()
    # the addnodes were just run; the queue was emptied in the status written afterwards
    queued_before = [
        m for _, m in _all_members(sim) if m.get("stateDetail", {}).get("pendingNotifyCmds")
    ]
    assert queued_before == []
    restarted = Sim(app=sim.app, cluster=copy.deepcopy(sim.cluster), hooks=sim.hooks)
    restarted.pods, restarted.done = sim.pods, sim.done
    restarted.converge()
    assert restarted.calls == []


def test_a_restarted_container_sets_up_again_only_without_persisted_results(sim: Sim) -> None:
    sim.converge()
    worker = _pods(sim, "worker")[0]
    sim.restart(worker, lose_disk=False)
    plan = sim.step()
    assert [a.kind for a in plan.actions] == [ActionKind.CONFIGURE]
    sim.converge()
    assert [c.member for c in sim.calls_of(ActionKind.CONFIGURE)].count(worker) == 1
    assert sim.cluster["status"]["membersReady"] == "5/5"

    sim.restart(worker, lose_disk=True)
    sim.converge()
    assert [c.member for c in sim.calls_of(ActionKind.CONFIGURE)].count(worker) == 2
    member = next(m for _, m in _all_members(sim) if m["pod"] == worker)
    assert member["containerID"] == f"{worker}/2"


def _failing(role: str, *, timed_out: bool = False) -> Any:
    """Setup fails in member 0 of ``role``."""

    def run(action: MemberAction) -> ActionOutcome:
        failing = f"-{role}-" in action.member and action.member.endswith("-0")
        if action.kind is ActionKind.CONFIGURE and failing:
            if timed_out:
                return ActionOutcome(action, None, "", error="timed out", timed_out=True)
            return ActionOutcome(action, 3, "boom")
        return ActionOutcome(action, 0, "ok")

    return run


def test_a_failed_setup_is_a_config_error_until_its_cause_changes(sim: Sim) -> None:
    sim.runner = _failing("worker")
    sim.converge()
    failed = next(pod for pod in _states(sim) if "worker" in pod and pod.endswith("-0"))
    assert _states(sim)[failed] == "config error"
    status = sim.cluster["status"]
    degraded = _condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ConfigError")
    assert failed in degraded["message"]
    assert status["memberStateRollup"]["configErrors"] is True
    assert status["membersReady"] == "4/5"
    assert [c.member for c in sim.calls_of(ActionKind.CONFIGURE)].count(failed) == 1
    assert any(e.reason == "MemberConfigError" for p in sim.plans for e in p.events)

    sim.runner = _failing("nothing")
    sim.converge()
    assert _states(sim)[failed] == "config error"  # same setup, same container: not retried
    sim.app = KubeDirectorApp.from_wire(
        {
            **app_wire(),
            "spec": {
                **app_wire()["spec"],
                "defaultConfigPackage": {"packageURL": "file:///opt/fixed.tgz"},
            },
        }
    )
    sim.converge()
    assert _states(sim)[failed] == "configured"
    assert _condition(sim.cluster["status"], "Degraded")["status"] == "False"


def test_a_hung_setup_is_a_config_error(sim: Sim) -> None:
    sim.runner = _failing("master", timed_out=True)
    sim.converge()
    assert "config error" in _states(sim).values()
    member = next(m for _, m in _all_members(sim) if m["state"] == "config error")
    assert "timed out" in member["stateDetail"]["configErrorDetail"]


def test_an_action_that_could_not_run_is_retried(sim: Sim) -> None:
    attempts: list[str] = []

    def flaky(action: MemberAction) -> ActionOutcome:
        attempts.append(action.member)
        if attempts.count(action.member) == 1:
            return ActionOutcome(action, None, "", error="exec refused")
        return ActionOutcome(action, 0, "ok")

    sim.runner = flaky
    sim.converge()
    assert set(_states(sim).values()) == {"configured"}
    assert all(attempts.count(pod) == 2 for pod in _states(sim))


def test_a_cluster_without_setup_package_is_configured_once_ready(hooks: Any) -> None:
    document = app_wire()
    document["spec"]["defaultConfigPackage"] = None
    sim = Sim(app=KubeDirectorApp.from_wire(document), cluster=cluster_wire(), hooks=hooks)
    sim.step()
    plan = sim.step()
    assert {a.kind for a in plan.actions} == {ActionKind.CONFIGURE}
    assert all("kd_package" not in (a.stdin or "") for a in plan.actions)
    assert all("configmeta.json" in (a.stdin or "") for a in plan.actions)
    sim.converge()
    assert set(_states(sim).values()) == {"configured"}


class Recorder:
    """A plugin that records resize calls and answers as told."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[RoleResize] = []

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_on_resize(self, resize: RoleResize) -> ResizeDecision | None:
        self.calls.append(resize)
        return self.answer(resize) if callable(self.answer) else self.answer


def test_a_refused_shrink_keeps_the_members(app: KubeDirectorApp) -> None:
    plugin = Recorder(
        lambda r: (
            ResizeDecision.refuse("data would be lost")
            if r.phase is ResizePhase.BEFORE_SHRINK
            else None
        )
    )
    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("guard", plugin)))
    sim.converge()
    sim.resize("worker", 1)
    plan = sim.converge()
    assert len(_pods(sim, "worker")) == 3
    assert set(_states(sim).values()) == {"configured"}
    degraded = _condition(sim.cluster["status"], "Degraded")
    assert degraded["reason"] == "ResizeRefused"
    assert "data would be lost" in degraded["message"]
    assert plan.events == ()
    warnings = [e for p in sim.plans for e in p.events if e.reason == "ResizeRefused"]
    assert len(warnings) == 1
    [shrink] = {
        (c.role, c.current_members, c.desired_members)
        for c in plugin.calls
        if c.phase is ResizePhase.BEFORE_SHRINK
    }
    assert shrink == ("worker", 3, 1)


def test_a_waiting_shrink_runs_the_plugins_actions_then_proceeds(app: KubeDirectorApp) -> None:
    released: list[bool] = []

    def answer(resize: RoleResize) -> ResizeDecision | None:
        if resize.phase is not ResizePhase.BEFORE_SHRINK or released:
            return None
        return ResizeDecision.wait(
            *(
                ExecAction(key=f"drain:{m.name}", member=m.name, command=("drain", m.hostname))
                for m in resize.leaving
            ),
            reason="draining",
        )

    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("drainer", Recorder(answer))))
    sim.converge()
    sim.resize("worker", 2)
    plan = sim.step()
    [drain] = plan.actions
    assert drain.kind is ActionKind.PLUGIN
    assert drain.member == _pods(sim, "worker")[2]
    assert drain.command[6:] == (f"'drain' '{fqdn_of(sim, drain.member)}'",)
    assert plan.requeue_after is not None
    assert _condition(plan.status, "Progressing")["reason"] == "ResizeWaiting"
    released.append(True)
    sim.converge()
    assert len(_pods(sim, "worker")) == 2


def fqdn_of(sim: Sim, pod: str) -> str:
    return _fqdns(sim, [pod])


def test_a_plugins_validation_problem_names_the_plugin_in_the_valid_condition(
    app: KubeDirectorApp,
) -> None:
    class Strict:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("*",)

        @hookimpl
        def kd_validate_cluster(self) -> list[Problem]:
            return [Problem("spec.roles[1].members", "at least 3 workers; add members")]

    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("strict", Strict())))
    valid = _condition(sim.step().status, "Valid")
    assert valid["status"] == "False"
    assert valid["message"] == (
        "spec.roles[1].members: at least 3 workers; add members (plugin strict)"
    )


def test_a_failing_plugin_is_reported_not_raised(app: KubeDirectorApp) -> None:
    class Broken:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("*",)

        @hookimpl
        def kd_configmeta(self) -> dict[str, Any]:
            raise RuntimeError("no metadata today")

    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("broken", Broken())))
    first = sim.step()
    assert [e.reason for e in first.events].count("PluginFailed") == 1
    plan = sim.step()
    assert plan.actions == ()  # no configmeta, no setup
    failed = _condition(plan.status, "PluginFailed")
    assert failed["status"] == "True"
    assert "broken" in failed["message"]
    assert "kd_configmeta" in failed["message"]
    assert [e.reason for e in plan.events].count("PluginFailed") == 0


def test_an_invalid_cluster_is_marked_not_crashed_on(app: KubeDirectorApp, hooks: Any) -> None:
    document = cluster_wire()
    document["spec"]["roles"][1]["members"] = 0  # worker is "1+"
    sim = Sim(app=app, cluster=document, hooks=hooks)
    plan = sim.step()
    valid = _condition(plan.status, "Valid")
    assert valid["status"] == "False"
    assert "spec.roles[1].members" in valid["message"]
    assert plan.objects == ()
    assert plan.actions == ()
    assert [e.reason for e in plan.events] == ["InvalidSpec"]
    assert sim.step().events == ()
    sim.app = None  # type: ignore[assignment]
    missing = sim.step()
    assert _condition(missing.status, "Valid")["reason"] == "AppMissing"


def test_notifications_queued_by_the_original_still_run(sim: Sim) -> None:
    sim.converge()
    member = _all_members(sim)[0][1]
    member["stateDetail"]["pendingNotifyCmds"] = [
        {"arguments": ["--addnodes", "--nodegroup 1", "--role", "worker", "--fqdns", "x.y"]}
    ]
    sim.converge()
    [call] = sim.calls_of(ActionKind.ADDNODES)
    assert call.arguments == (
        "--addnodes",
        "--nodegroup",
        "1",
        "--role",
        "worker",
        "--fqdns",
        "x.y",
    )
    assert "pendingNotifyCmds" not in _all_members(sim)[0][1].get("stateDetail", {})


def test_a_removed_members_claim_and_service_are_deleted(sim: Sim) -> None:
    for role in sim.cluster["spec"]["roles"]:
        role["storage"] = {"size": "1Gi"}
    sim.persistent = True
    sim.converge()
    workers = _pods(sim, "worker")
    sim.resize("worker", 2)
    sim.converge()
    deleted = sorted((ref.kind, ref.name) for plan in sim.plans for ref in plan.deletions)
    assert deleted == [("PersistentVolumeClaim", f"p-{workers[2]}"), ("Service", workers[2])]
    sim.resize("worker", 3)
    sim.converge()
    # the member comes back with a new node id and a fresh volume: set up again
    assert [c.member for c in sim.calls_of(ActionKind.CONFIGURE)].count(workers[2]) == 2


def test_a_scale_up_is_announced_without_a_warning_but_a_member_lost_warns(sim: Sim) -> None:
    sim.converge()
    start = len(sim.plans)
    sim.resize("worker", 4)
    sim.converge()
    grew = [(e.type, e.reason) for plan in sim.plans[start:] for e in plan.events]
    assert grew[0] == ("Normal", "Resizing")
    assert grew[-1] == ("Normal", "ClusterReady")
    assert [reason for kind, reason in grew if kind == "Warning"] == []

    # A member that was ready and is no longer: its new container's setup fails.
    start = len(sim.plans)
    sim.runner = _failing("worker")
    sim.restart(_pods(sim, "worker")[0], lose_disk=True)
    sim.converge()
    lost = [(e.type, e.reason) for plan in sim.plans[start:] for e in plan.events]
    assert ("Warning", "ClusterNotReady") in lost
    assert sim.cluster["status"]["membersReady"] == "5/6"
