"""A resize held by a plugin's actions goes ahead once they are done, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubedirector_core import hookimpl
from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.hooktypes import (
    DoneWhen,
    ExecAction,
    Member,
    MemberFile,
    ResizeDecision,
    ResizePhase,
    RoleResize,
)
from kubedirector_core.plan import ActionKind, ActionOutcome, MemberAction, record_outcome

from .conftest import cluster_wire, isolated_hooks
from .simulate import Sim, succeed

NOW = datetime(2024, 5, 1, tzinfo=UTC)


class Drainer:
    """Always answers WAIT with one drain action per leaving member, never PROCEED itself."""

    def __init__(self, *, check: bool = False) -> None:
        self.check = check
        self.calls: list[RoleResize] = []

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_on_resize(self, resize: RoleResize) -> ResizeDecision | None:
        self.calls.append(resize)
        if resize.phase is not ResizePhase.BEFORE_SHRINK:
            return None
        return ResizeDecision.wait(
            *(
                ExecAction(
                    key=f"drain:{m.name}",
                    member=m.name,
                    command=("drain", m.hostname),
                    done_when=DoneWhen.CHECK_SUCCEEDS if self.check else DoneWhen.EXITS_ZERO,
                    check=("drained", m.hostname) if self.check else (),
                    poll_seconds=5.0,
                )
                for m in resize.leaving
            ),
            reason="draining",
        )


def _workers(sim: Sim) -> list[str]:
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == "worker"]
    return [m["pod"] for m in role["members"]]


def _plugin_runs(sim: Sim) -> list[str]:
    return [c.member for c in sim.calls_of(ActionKind.PLUGIN)]


def test_a_wait_whose_actions_finished_proceeds_without_the_plugin_changing_its_answer(
    app: KubeDirectorApp,
) -> None:
    drainer = Drainer()
    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("drainer", drainer)))
    sim.converge()
    leaving = _workers(sim)[2]
    sim.resize("worker", 2)
    sim.converge()
    assert len(_workers(sim)) == 2
    assert _plugin_runs(sim) == [leaving]  # drained exactly once
    assert "doneActions" not in sim.cluster["status"]  # cleaned once the resize finished
    shrink_calls = [c for c in drainer.calls if c.phase is ResizePhase.BEFORE_SHRINK]
    assert shrink_calls[0].done_keys == frozenset()
    assert shrink_calls[-1].done_keys == {f"drain:{leaving}"}


def test_a_check_action_is_done_only_once_its_check_succeeds(app: KubeDirectorApp) -> None:
    checks: list[str] = []

    def runner(action: MemberAction) -> ActionOutcome:
        if action.kind is ActionKind.PLUGIN:
            checks.append(action.member)
            return ActionOutcome(
                action=action, exit_code=0 if len(checks) >= 3 else 1, output_tail=""
            )
        return succeed(action)

    sim = Sim(
        app=app,
        cluster=cluster_wire(),
        hooks=isolated_hooks(("drainer", Drainer(check=True))),
        runner=runner,
    )
    sim.converge()
    sim.resize("worker", 2)
    first = sim.step()
    [action] = first.actions
    assert action.plugin_key == f"drain:{action.member}"
    assert first.requeue_after == 5.0  # the action's poll interval
    assert len(_workers(sim)) == 3
    sim.step()
    assert len(_workers(sim)) == 3  # the check failed twice: still waiting
    sim.converge()
    assert len(checks) == 3
    assert len(_workers(sim)) == 2


def test_done_survives_an_operator_crash_between_running_and_writing_status(
    app: KubeDirectorApp,
) -> None:
    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("drainer", Drainer())))
    sim.converge()
    sim.resize("worker", 2)
    sim.step(crash_after_actions=True)  # drained, but the status was never written
    assert "doneActions" not in sim.cluster["status"]
    sim.step()  # planned again: the guest's done key skips the work, the status records it
    assert [r["key"] for r in sim.cluster["status"]["doneActions"]] == [f"drain:{_workers(sim)[2]}"]
    sim.converge()
    assert len(_workers(sim)) == 2
    assert len(_plugin_runs(sim)) == 1


def test_a_wait_without_actions_is_never_taken_for_proceed(app: KubeDirectorApp) -> None:
    class Holder:
        @hookimpl
        def kd_claims(self) -> tuple[str, ...]:
            return ("example/*",)

        @hookimpl
        def kd_on_resize(self, resize: RoleResize) -> ResizeDecision | None:
            if resize.phase is ResizePhase.BEFORE_SHRINK:
                return ResizeDecision.wait(reason="not now", retry_after_seconds=30)
            return None

    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("holder", Holder())))
    sim.converge()
    sim.resize("worker", 2)
    for _ in range(5):
        plan = sim.step()
    assert len(_workers(sim)) == 3
    assert plan.requeue_after == 30


def test_record_outcome_records_a_succeeded_plugin_action_and_ignores_a_failed_one() -> None:
    action = MemberAction(
        key="plugin-x",
        member="w-1",
        container="app",
        kind=ActionKind.PLUGIN,
        command=("true",),
        plugin_key="decommission:w-1",
        role="worker",
    )
    failed = record_outcome({}, ActionOutcome(action=action, exit_code=1, output_tail=""), NOW)
    assert "doneActions" not in failed
    status = record_outcome({}, ActionOutcome(action=action, exit_code=0, output_tail=""), NOW)
    assert status["doneActions"] == [
        {
            "key": "decommission:w-1",
            "member": "w-1",
            "role": "worker",
            "finishedAt": "2024-05-01T00:00:00Z",
        }
    ]
    again = record_outcome(status, ActionOutcome(action=action, exit_code=0, output_tail=""), NOW)
    assert again == status


class Watcher:
    """Records the members each hook is given."""

    def __init__(self) -> None:
        self.files: list[tuple[Member, tuple[Member, ...]]] = []
        self.meta: list[tuple[Member, ...]] = []
        self.resizes: list[RoleResize] = []

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_configmeta(self, members: tuple[Member, ...]) -> dict[str, Any]:
        self.meta.append(members)
        return {"hosts": [m.hostname for m in members]}

    @hookimpl
    def kd_member_files(self, member: Member, members: tuple[Member, ...]) -> list[MemberFile]:
        self.files.append((member, members))
        return [MemberFile(path="/etc/peers", content=",".join(m.name for m in members))]

    @hookimpl
    def kd_on_resize(self, resize: RoleResize) -> None:
        self.resizes.append(resize)


def test_hooks_see_every_desired_member_from_the_first_render(app: KubeDirectorApp) -> None:
    watcher = Watcher()
    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("watcher", watcher)))
    sim.step()  # no pod exists yet: nothing is rendered for members
    sim.step()  # pods run: setup renders configmeta and files
    expected = [
        ("master", 0, 1),
        ("worker", 0, 2),
        ("worker", 1, 3),
        ("worker", 2, 4),
        ("edge", 0, 5),
    ]
    assert watcher.meta  # called on the first render, before any pod is listed in status
    for members in watcher.meta:
        assert [(m.role, m.ordinal, m.node_id) for m in members] == expected
    assert all(m.hostname.startswith(m.name + ".") for m in members)
    member, given = watcher.files[0]
    assert member in given
    assert len(watcher.files) == 5


def test_a_resize_is_given_the_membership_it_leads_to(app: KubeDirectorApp) -> None:
    watcher = Watcher()
    sim = Sim(app=app, cluster=cluster_wire(), hooks=isolated_hooks(("watcher", watcher)))
    sim.converge()
    sim.resize("worker", 2)
    sim.converge()
    [shrink] = [r for r in watcher.resizes if r.phase is ResizePhase.BEFORE_SHRINK][:1]
    assert [m.name for m in shrink.leaving] == [_workers_before(shrink)]
    assert shrink.leaving[0] not in shrink.members
    assert sum(1 for m in shrink.members if m.role == "worker") == 2
    sim.resize("worker", 3)
    sim.converge()
    grow = [r for r in watcher.resizes if r.phase is ResizePhase.AFTER_GROW][-1]
    assert grow.joining[0] in {
        Member(**{**_fields(m), "state": grow.joining[0].state}) for m in grow.members
    }
    assert sum(1 for m in grow.members if m.role == "worker") == 3


def _workers_before(resize: RoleResize) -> str:
    return resize.leaving[0].name


def _fields(member: Member) -> dict[str, Any]:
    return {name: getattr(member, name) for name in Member.__slots__}
