"""A member whose plugin asks for a readiness action joins only once that action is done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kubedirector_core import hookimpl
from kubedirector_core.api import ClusterRole, KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.hooktypes import (
    DoneWhen,
    ExecAction,
    Member,
    ResizePhase,
    RoleResize,
)
from kubedirector_core.plan import ActionKind, ActionOutcome, MemberAction, Plan
from kubedirector_core.plan.names import fqdn
from kubedirector_core.plan.status import outcome_event

from .conftest import cluster_wire, isolated_hooks
from .simulate import Sim, succeed


class Readiness:
    """Asks every worker for a readiness action; records the resizes it is asked about."""

    def __init__(self, *, check: bool = True, answer: bool = True, timeout: float = 600.0) -> None:
        self.check = check
        self.answer = answer
        self.timeout = timeout
        self.generation = 1
        self.asked: list[Member] = []
        self.members: list[tuple[Member, ...]] = []
        self.resizes: list[RoleResize] = []

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_member_readiness(
        self, role: ClusterRole, member: Member, members: tuple[Member, ...]
    ) -> ExecAction | None:
        self.asked.append(member)
        self.members.append(members)
        if role.id != "worker" or not self.answer:
            return None
        return ExecAction(
            key=f"ready:{member.name}:{self.generation}",
            member=member.name,
            command=("register", member.hostname),
            done_when=DoneWhen.CHECK_SUCCEEDS if self.check else DoneWhen.EXITS_ZERO,
            check=("registered", member.hostname) if self.check else (),
            poll_seconds=5.0,
            timeout_seconds=self.timeout,
            description="the worker registered",
        )

    @hookimpl
    def kd_on_resize(self, resize: RoleResize) -> None:
        self.resizes.append(resize)


class Guest:
    """Runs actions as the guest would: readiness passes only for members in ``ready``."""

    def __init__(self) -> None:
        self.ready: set[str] = set()
        self.readiness_runs: list[str] = []
        self.exit_status = 1

    def __call__(self, action: MemberAction) -> ActionOutcome:
        if action.readiness_of is None:
            return succeed(action)
        self.readiness_runs.append(action.readiness_of)
        passed = action.readiness_of in self.ready
        return ActionOutcome(
            action=action, exit_code=0 if passed else self.exit_status, output_tail="not listed"
        )


def _sim(app: KubeDirectorApp, plugin: Readiness, guest: Guest) -> Sim:
    return Sim(
        app=app,
        cluster=cluster_wire(),
        hooks=isolated_hooks(("readiness", plugin)),
        runner=guest,
    )


def _member(sim: Sim, pod: str) -> dict[str, Any]:
    return next(
        m for role in sim.cluster["status"]["roles"] for m in role["members"] if m["pod"] == pod
    )


def _states(sim: Sim, role_id: str) -> list[str]:
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == role_id]
    return [m["state"] for m in role["members"]]


def _workers(sim: Sim) -> list[str]:
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == "worker"]
    return [m["pod"] for m in role["members"]]


def _condition(status: Any, kind: str) -> dict[str, Any]:
    return dict(next(c for c in status["conditions"] if c["type"] == kind))


def _steps(sim: Sim, count: int) -> list[Plan]:
    return [sim.step() for _ in range(count)]


def _events(plans: list[Plan], reason: str) -> list[str]:
    return [e.message for plan in plans for e in plan.events if e.reason == reason]


def test_a_member_waiting_for_readiness_stays_creating_until_its_check_passes(
    app: KubeDirectorApp,
) -> None:
    plugin, guest = Readiness(), Guest()
    sim = _sim(app, plugin, guest)
    plans = _steps(sim, 6)
    workers = _workers(sim)
    assert _states(sim, "master") == ["configured"]  # not asked for: ready once configured
    assert {m.role for m in plugin.asked} == {"master", "worker", "edge"}
    assert all(m.state == "creating" for m in plugin.asked)
    assert [len(given) for given in plugin.members] == [5] * len(plugin.asked)
    assert all(member in given for member, given in zip(plugin.asked, plugin.members, strict=True))
    assert _states(sim, "worker") == ["creating"] * 3
    status = sim.cluster["status"]
    assert status["state"] == "creating"
    assert status["membersReady"] == "2/5"
    assert _condition(status, "Ready")["status"] == "False"
    progressing = _condition(status, "Progressing")
    assert progressing["reason"] == "WaitingForReadiness"
    assert (
        f"member {workers[0]} waits for readiness action 'ready:{workers[0]}:1'"
        in (progressing["message"])
    )
    detail = _member(sim, workers[0])["stateDetail"]
    assert "the worker registered" in detail["waitingFor"]
    assert detail["readiness"]["key"] == f"ready:{workers[0]}:1"
    assert detail["readiness"]["plugin"] == "readiness"
    last = plans[-1]
    readiness_actions = [a for a in last.actions if a.readiness_of is not None]
    assert sorted(a.readiness_of or "" for a in readiness_actions) == workers
    assert {a.kind for a in readiness_actions} == {ActionKind.PLUGIN}
    assert last.requeue_after == 5.0  # the check's poll interval
    assert not _events(plans, "PluginActionFailed")  # a check not passed yet is no failure

    guest.ready.update(workers[:2])
    _steps(sim, 3)
    assert _states(sim, "worker") == ["creating"] * 3  # a role's members join together
    guest.ready.add(workers[2])
    plans = _steps(sim, 3)
    assert _states(sim, "worker") == ["configured"] * 3
    assert sim.cluster["status"]["state"] == "configured"
    assert sorted(_events(plans, "MemberReady")) == [
        f"member {pod} is ready: readiness action 'ready:{pod}:1' of plugin readiness is done"
        for pod in workers[2:]
    ]
    assert not {"readiness", "waitingFor"} & set(_member(sim, workers[2])["stateDetail"])
    assert "doneActions" not in sim.cluster["status"]  # forgotten once the members joined
    final = sim.converge()
    assert final.actions == ()
    assert _condition(sim.cluster["status"], "Ready")["status"] == "True"


def test_addnodes_and_after_grow_wait_for_the_new_members_readiness(
    app: KubeDirectorApp,
) -> None:
    plugin, guest = Readiness(), Guest()
    sim = _sim(app, plugin, guest)
    for _ in range(3):
        sim.step()
    guest.ready.update(_workers(sim))
    sim.converge()
    sim.resize("worker", 4)
    _steps(sim, 6)
    new = _workers(sim)[3]
    assert _member(sim, new)["state"] == "creating"
    assert _member(sim, new)["configured"] is True  # set up, not ready
    assert sim.cluster["status"]["state"] == "updating"
    assert sim.calls_of(ActionKind.ADDNODES) == []
    assert [r for r in plugin.resizes if r.phase is ResizePhase.AFTER_GROW] == []

    guest.ready.add(new)
    sim.converge()
    assert _member(sim, new)["state"] == "configured"
    grows = [r for r in plugin.resizes if r.phase is ResizePhase.AFTER_GROW]
    assert [m.name for m in grows[0].joining] == [new]
    adds = sim.calls_of(ActionKind.ADDNODES)
    cluster = KubeDirectorCluster.from_wire(sim.cluster)
    assert adds
    assert {call.arguments[-1] for call in adds} == {fqdn(cluster, new)}
    assert sim.cluster["status"]["state"] == "configured"


def test_a_failing_readiness_action_is_a_config_error_until_the_plugin_answers_anew(
    app: KubeDirectorApp,
) -> None:
    plugin, guest = Readiness(check=False), Guest()
    guest.exit_status = 3
    sim = _sim(app, plugin, guest)
    plans = _steps(sim, 5)
    workers = _workers(sim)
    assert _states(sim, "worker") == ["config error"] * 3
    detail = _member(sim, workers[0])["stateDetail"]
    expected = (
        f"readiness action 'ready:{workers[0]}:1' of plugin readiness exited with status 3 "
        f"in {workers[0]}: not listed"
    )
    assert detail["configErrorDetail"] == expected
    assert detail["readiness"]["error"] == expected
    assert "waitingFor" not in detail
    assert sim.cluster["status"]["state"] == "configured"  # settled, degraded
    assert _condition(sim.cluster["status"], "Degraded")["reason"] == "ConfigError"
    assert f"member {workers[0]} did not become ready: {expected}" in _events(
        plans, "MemberConfigError"
    )

    runs = len(guest.readiness_runs)
    asked = len(plugin.asked)
    _steps(sim, 3)
    assert len(guest.readiness_runs) == runs  # the same key is not run again
    assert len(plugin.asked) > asked  # but the plugin is asked again

    plugin.generation = 2  # the plugin answers anew: a new key
    guest.ready.update(workers)
    plans = _steps(sim, 3)
    assert _states(sim, "worker") == ["configured"] * 3
    assert "configErrorDetail" not in _member(sim, workers[0])["stateDetail"]
    assert len(_events(plans, "MemberReady")) == 3
    assert _condition(sim.cluster["status"], "Degraded")["status"] == "False"


def test_a_member_added_that_becomes_ready_after_failing_is_announced_to_the_others(
    app: KubeDirectorApp,
) -> None:
    plugin, guest = Readiness(check=False), Guest()
    guest.exit_status = 0  # the first members pass at once
    sim = _sim(app, plugin, guest)
    sim.converge()
    assert _states(sim, "worker") == ["configured"] * 3
    before = len(sim.calls)
    guest.exit_status = 3
    sim.resize("worker", 4)
    sim.converge()
    new = _workers(sim)[3]
    assert _member(sim, new)["state"] == "config error"
    assert [c for c in sim.calls[before:] if c.kind is ActionKind.ADDNODES] == []

    plugin.generation = 2  # a new answer, which passes
    guest.ready.add(new)
    sim.converge()
    assert _member(sim, new)["state"] == "configured"
    cluster = KubeDirectorCluster.from_wire(sim.cluster)
    adds = [c for c in sim.calls[before:] if c.kind is ActionKind.ADDNODES]
    assert {call.arguments[-1] for call in adds} == {fqdn(cluster, new)}
    assert new not in {call.member for call in adds}
    assert len({call.member for call in adds}) == 4  # every other member heard of it


def test_a_check_that_never_passes_times_out_into_a_config_error(app: KubeDirectorApp) -> None:
    plugin, guest = Readiness(timeout=30.0), Guest()
    sim = _sim(app, plugin, guest)
    _steps(sim, 4)
    assert _states(sim, "worker") == ["creating"] * 3
    sim.now += timedelta(seconds=31)
    plans = _steps(sim, 1)
    assert _states(sim, "worker") == ["config error"] * 3
    detail = _member(sim, _workers(sim)[0])["stateDetail"]
    assert detail["configErrorDetail"].endswith("did not pass within 30 s")
    assert len(_events(plans, "MemberConfigError")) == 3


def test_no_readiness_action_changes_nothing(app: KubeDirectorApp, hooks: Any) -> None:
    plugin = Readiness(answer=False)
    with_plugin = _sim(app, plugin, Guest())
    without = Sim(app=app, cluster=cluster_wire(), hooks=hooks)
    for _ in range(6):
        assert with_plugin.step() == without.step()
    assert plugin.asked  # asked, and said None
    assert with_plugin.cluster["status"]["state"] == "configured"


def test_a_raising_readiness_hook_holds_the_member_and_is_reported(app: KubeDirectorApp) -> None:
    class Broken:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("example/*",)

        @hookimpl
        def kd_member_readiness(self, role: ClusterRole) -> ExecAction | None:
            if role.id == "worker":
                raise RuntimeError("namenode unreachable")
            return None

    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("broken", Broken())))
    plans = _steps(sim, 5)
    assert _states(sim, "worker") == ["creating"] * 3
    assert _states(sim, "master") == ["configured"]
    failed = _condition(sim.cluster["status"], "PluginFailed")
    assert failed["status"] == "True"
    assert "broken" in failed["message"]
    assert "kd_member_readiness" in failed["message"]
    assert "namenode unreachable" in failed["message"]
    assert _events(plans, "PluginFailed")
    detail = _member(sim, _workers(sim)[0])["stateDetail"]
    assert "kd_member_readiness of plugin broken" in detail["waitingFor"]
    assert plans[-1].requeue_after is not None


def test_a_readiness_action_in_an_unknown_member_is_a_plugin_failure(
    app: KubeDirectorApp,
) -> None:
    class Astray:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("example/*",)

        @hookimpl
        def kd_member_readiness(self, member: Member) -> ExecAction:
            return ExecAction(key="k", member="namenode-0", command=("true",))

    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("astray", Astray())))
    _steps(sim, 4)
    failed = _condition(sim.cluster["status"], "PluginFailed")
    assert "names member 'namenode-0', which is not a member of the cluster" in (failed["message"])
    assert set(_states(sim, "worker")) == {"creating"}


class CheckedAtTheMaster(Readiness):
    """Checks each worker in the master, as kd-hadoop checks a DataNode in its NameNode."""

    @hookimpl
    def kd_member_readiness(
        self, role: ClusterRole, member: Member, members: tuple[Member, ...]
    ) -> ExecAction | None:
        if role.id != "worker":
            return None
        [master] = [m.name for m in members if m.role == "master"]
        return ExecAction(
            key=f"ready:{member.name}",
            member=master,
            command=("true",),
            done_when=DoneWhen.CHECK_SUCCEEDS,
            check=("registered", member.hostname),
            poll_seconds=5.0,
        )


def test_a_check_in_another_member_waits_until_that_member_is_set_up(
    app: KubeDirectorApp,
) -> None:
    guest = Guest()
    refusals = {"left": 3}

    def master_starts_late(action: MemberAction) -> ActionOutcome:
        # The master's exec is refused three times: its setup cannot run yet.
        if action.kind is ActionKind.CONFIGURE and "master" in action.member and refusals["left"]:
            refusals["left"] -= 1
            return ActionOutcome(action=action, exit_code=None, output_tail="", error="refused")
        return guest(action)

    sim = Sim(
        app=app,
        cluster=cluster_wire(),
        hooks=isolated_hooks(("readiness", CheckedAtTheMaster())),
        runner=master_starts_late,
    )
    early = _steps(sim, 6)
    [master] = [m["pod"] for r in sim.cluster["status"]["roles"] if r["id"] == "master"
                for m in r["members"]]  # fmt: skip
    assert refusals["left"] == 0
    # No check was planned in the master before its own setup succeeded there.
    for plan in early:
        in_master = [a for a in plan.actions if a.member == master]
        if any(a.kind is ActionKind.CONFIGURE for a in in_master):
            assert all(a.readiness_of is None for a in in_master)
    assert _states(sim, "master") == ["configured"]
    guest.ready.update(_workers(sim))
    sim.converge()
    assert _states(sim, "worker") == ["configured"] * 3
    assert set(guest.readiness_runs) == set(_workers(sim))


def test_a_finished_check_is_not_run_again_after_an_operator_crash(
    app: KubeDirectorApp,
) -> None:
    plugin, guest = Readiness(), Guest()
    sim = _sim(app, plugin, guest)
    _steps(sim, 3)
    guest.ready.update(_workers(sim))
    sim.step(crash_after_actions=True)  # the checks passed, the status was never written
    sim.step()  # run again (the guest's done keys hold), now recorded in doneActions
    done = sim.cluster["status"]["doneActions"]
    assert sorted(r["readinessOf"] for r in done) == _workers(sim)
    runs = len(guest.readiness_runs)
    sim.converge()
    assert len(guest.readiness_runs) == runs
    assert _states(sim, "worker") == ["configured"] * 3


def test_a_new_container_is_judged_afresh(app: KubeDirectorApp) -> None:
    plugin, guest = Readiness(), Guest()
    sim = _sim(app, plugin, guest)
    _steps(sim, 2)
    worker = _workers(sim)[0]
    first = [a.key for a in sim.step().actions if a.readiness_of == worker]
    sim.restart(worker)
    _steps(sim, 2)
    second = [a.key for a in sim.step().actions if a.readiness_of == worker]
    assert first
    assert second
    assert first != second


def test_only_a_readiness_check_still_failing_goes_without_a_warning() -> None:
    command = MemberAction(
        key="ready-y",
        member="w-1",
        container="app",
        kind=ActionKind.PLUGIN,
        command=("true",),
        plugin_key="ready:w-1",
        role="worker",
        readiness_of="w-1",
    )
    failed = outcome_event(ActionOutcome(action=command, exit_code=3, output_tail=""))
    assert failed is not None
    assert failed.reason == "PluginActionFailed"
    assert failed.message == "readiness action 'ready:w-1' of w-1 in w-1 exited with status 3"
    check = MemberAction(
        key="ready-x",
        member="w-0",
        container="app",
        kind=ActionKind.PLUGIN,
        command=("true",),
        plugin_key="ready:w-0",
        role="worker",
        readiness_of="w-0",
        polls=True,
    )
    assert outcome_event(ActionOutcome(action=check, exit_code=1, output_tail="")) is None
    timed_out = outcome_event(
        ActionOutcome(action=check, exit_code=None, output_tail="", timed_out=True)
    )
    assert timed_out is not None
    assert timed_out.reason == "ActionTimedOut"
    assert "readiness action 'ready:w-0' of w-0" in timed_out.message
