"""kd_on_config_change: asked once per change of spec.connections, its actions run once."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kubedirector_core import hookimpl
from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.hooktypes import ExecAction
from kubedirector_core.plan import ActionKind, ActionOutcome, MemberAction, Plan

from .conftest import cluster_wire, isolated_hooks
from .simulate import Call, Sim, succeed

MASTER = "demo1-master-hgdh2-0"


@dataclass
class Seen:
    """What one call of the hook was given."""

    connections: dict[str, Any] | None
    old_connections: dict[str, Any] | None
    generation: int | None
    old_generation: int | None


@dataclass
class Reloader:
    """Asks to reload the master after every configuration change; can be made to raise."""

    failures: int = 0
    calls: list[Seen] = field(default_factory=list)

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_on_config_change(
        self, cluster: KubeDirectorCluster, old: KubeDirectorCluster
    ) -> list[ExecAction]:
        self.calls.append(
            Seen(
                connections=_wire(cluster.spec.connections),
                old_connections=_wire(old.spec.connections),
                generation=cluster.metadata.generation,
                old_generation=old.metadata.generation,
            )
        )
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the reload service is down")
        return [
            ExecAction(
                key=f"reload:{cluster.metadata.generation}",
                member=cluster_master(cluster),
                command=("reload-app",),
            )
        ]


def cluster_master(cluster: KubeDirectorCluster) -> str:
    """The master's pod, from the status (as a plugin finds members without a ``members``)."""
    assert cluster.status is not None
    [role] = [r for r in cluster.status.roles or [] if r.id == "master"]
    [member] = role.members or []
    assert member.pod is not None
    return member.pod


def _wire(model: Any) -> dict[str, Any] | None:
    return model.to_wire() if model is not None else None


def _sim(app: KubeDirectorApp, reloader: Reloader, document: dict[str, Any] | None = None) -> Sim:
    return Sim(
        app=app,
        cluster=document if document is not None else cluster_wire(),
        hooks=isolated_hooks(("reloader", reloader)),
    )


def _connect(sim: Sim, *clusters: str) -> None:
    sim.cluster["spec"]["connections"] = {"clusters": list(clusters)}
    sim.cluster["metadata"]["generation"] += 1


def _plugin_calls(sim: Sim) -> list[Call]:
    return sim.calls_of(ActionKind.PLUGIN)


def _events(plans: list[Plan], reason: str) -> list[str]:
    return [e.message for plan in plans for e in plan.events if e.reason == reason]


def _condition(plan: Plan, kind: str) -> dict[str, Any]:
    return next(c for c in plan.status["conditions"] if c["type"] == kind)


def test_a_connection_change_calls_the_hook_once_after_reconnect_and_runs_its_action_once(
    app: KubeDirectorApp,
) -> None:
    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.converge()
    assert reloader.calls == []
    assert sim.cluster["status"]["reconciledConfig"] == {"generation": 1}

    _connect(sim, "other")
    sim.step()  # members are told first: the hook waits for their --reconnect
    assert reloader.calls == []
    assert len(sim.calls_of(ActionKind.RECONNECT)) == 5
    asked = sim.step()
    assert reloader.calls == [
        Seen(
            connections={"clusters": ["other"]},
            old_connections=None,
            generation=2,
            old_generation=1,
        )
    ]
    [action] = asked.actions
    assert (action.kind, action.member, action.plugin_key) == (
        ActionKind.PLUGIN,
        MASTER,
        "reload:2",
    )
    assert sim.cluster["status"]["configChange"]["actions"] == ["reload:2"]
    assert [(r["key"], r["hook"]) for r in sim.cluster["status"]["doneActions"]] == [
        ("reload:2", "kd_on_config_change")
    ]

    sim.converge()
    assert len(reloader.calls) == 1  # no second call once its action is done
    assert [(c.member, c.key) for c in _plugin_calls(sim)] == [(MASTER, action.key)]
    status = sim.cluster["status"]
    assert status["reconciledConfig"] == {"generation": 2, "connections": {"clusters": ["other"]}}
    assert "configChange" not in status
    assert "doneActions" not in status
    assert _events(sim.plans, "ConfigChanged") == [
        "spec.connections changed (generation 1 to 2): members were told, "
        "plugin actions done: reload:2"
    ]

    # The next change is told against the values just reconciled.
    _connect(sim, "other", "third")
    sim.converge()
    assert [(s.old_connections, s.connections) for s in reloader.calls[1:]] == [
        ({"clusters": ["other"]}, {"clusters": ["other", "third"]})
    ]
    assert [c.key for c in _plugin_calls(sim)] == [action.key, _plugin_key("reload:3")]


def _plugin_key(key: str) -> str:
    from kubedirector_core.plan.cluster import plugin_key

    return plugin_key(key)


def test_a_converged_cluster_calls_no_hook_and_changes_no_status(app: KubeDirectorApp) -> None:
    reloader = Reloader()
    sim = _sim(app, reloader)
    _connect(sim, "other")  # connected from the start: nothing changes on a running cluster
    sim.converge()
    before = copy.deepcopy(sim.cluster["status"])
    for _ in range(3):
        plan = sim.step()
        assert plan.actions == ()
        assert plan.status == before
    assert reloader.calls == []


def test_a_resize_alone_does_not_call_the_hook(app: KubeDirectorApp) -> None:
    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.converge()
    sim.resize("worker", 4)
    sim.converge()
    sim.resize("worker", 2)
    sim.converge()
    assert reloader.calls == []
    assert _plugin_calls(sim) == []
    assert sim.cluster["status"]["reconciledConfig"] == {"generation": 3}


def test_a_raising_hook_is_reported_and_retried_until_it_answers(app: KubeDirectorApp) -> None:
    reloader = Reloader(failures=2)
    sim = _sim(app, reloader)
    sim.converge()
    _connect(sim, "other")
    sim.step()
    failed = sim.step()
    condition = _condition(failed, "PluginFailed")
    assert condition["status"] == "True"
    assert "reloader" in condition["message"]
    assert "kd_on_config_change" in condition["message"]
    assert "the reload service is down" in condition["message"]
    assert [e.type for e in failed.events if e.reason == "PluginFailed"] == ["Warning"]
    assert failed.requeue_after is not None
    assert sim.cluster["status"]["reconciledConfig"] == {"generation": 1}  # not taken yet
    assert _plugin_calls(sim) == []

    retried = sim.step()  # the runtime comes back after requeue_after: asked again
    assert _condition(retried, "PluginFailed")["status"] == "True"
    assert [e for e in retried.events if e.reason == "PluginFailed"] == []  # told once
    sim.converge()
    assert len(reloader.calls) == 3  # two failures, then the answer
    assert all(s.old_connections is None for s in reloader.calls)
    assert [c.key for c in _plugin_calls(sim)] == [_plugin_key("reload:2")]
    assert "PluginFailed" not in {c["type"] for c in sim.cluster["status"]["conditions"]}
    assert sim.cluster["status"]["reconciledConfig"]["connections"] == {"clusters": ["other"]}


def test_a_failed_action_is_asked_for_again_and_the_change_waits_for_it(
    app: KubeDirectorApp,
) -> None:
    attempts: list[str] = []

    def runner(action: MemberAction) -> ActionOutcome:
        if action.kind is ActionKind.PLUGIN:
            attempts.append(action.member)
            return ActionOutcome(
                action=action, exit_code=0 if len(attempts) > 1 else 3, output_tail=""
            )
        return succeed(action)

    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.runner = runner
    sim.converge()
    _connect(sim, "other")
    sim.step()
    first = sim.step()
    assert [a.plugin_key for a in first.actions] == ["reload:2"]
    assert first.requeue_after is not None  # a failed action changes no status: come back
    assert "doneActions" not in sim.cluster["status"]
    assert sim.cluster["status"]["reconciledConfig"] == {"generation": 1}
    sim.converge()
    assert attempts == [MASTER, MASTER]
    assert len(reloader.calls) == 2
    assert sim.cluster["status"]["reconciledConfig"]["generation"] == 2


def test_an_operator_restart_neither_repeats_nor_forgets_the_change(app: KubeDirectorApp) -> None:
    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.converge()
    _connect(sim, "other")
    sim.step()
    sim.step()  # asked, and its action ran; the change is finished on the next reconcile
    assert len(reloader.calls) == 1

    # A new operator: nothing but the written cluster (spec and status) and fresh plugins.
    fresh = Reloader()
    restarted = _sim(app, fresh, copy.deepcopy(sim.cluster))
    restarted.done = copy.deepcopy(sim.done)
    restarted.pods = dict(sim.pods)
    restarted.converge()
    assert fresh.calls == []
    assert _plugin_calls(restarted) == []
    assert restarted.cluster["status"]["reconciledConfig"]["connections"] == {"clusters": ["other"]}

    again = _sim(app, Reloader(), copy.deepcopy(restarted.cluster))
    again.pods = dict(sim.pods)
    again.converge()
    assert _plugin_calls(again) == []


def test_old_comes_from_the_status_when_the_operator_was_down_during_the_change(
    app: KubeDirectorApp,
) -> None:
    sim = _sim(app, Reloader())
    _connect(sim, "first")
    sim.converge()
    document = copy.deepcopy(sim.cluster)
    _connect_document(document, "second")  # changed while no operator ran
    reloader = Reloader()
    restarted = _sim(app, reloader, document)
    restarted.pods = dict(sim.pods)
    restarted.done = copy.deepcopy(sim.done)
    restarted.converge()
    assert [(s.old_connections, s.connections, s.old_generation) for s in reloader.calls] == [
        ({"clusters": ["first"]}, {"clusters": ["second"]}, 2)
    ]


def _connect_document(document: dict[str, Any], *clusters: str) -> None:
    document["spec"]["connections"] = {"clusters": list(clusters)}
    document["metadata"]["generation"] += 1


def test_a_status_without_a_record_takes_the_spec_as_reconciled(app: KubeDirectorApp) -> None:
    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.converge()
    _connect(sim, "other")
    # Written by the original KubeDirector or an older kubedirector-core: no record.
    del sim.cluster["status"]["reconciledConfig"]
    sim.converge()
    assert reloader.calls == []
    assert sim.cluster["status"]["reconciledConfig"]["connections"] == {"clusters": ["other"]}


def test_a_change_while_the_cluster_is_created_is_not_a_configuration_change(
    app: KubeDirectorApp,
) -> None:
    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.step()  # no pod runs yet
    _connect(sim, "other")
    sim.converge()
    assert reloader.calls == []
    assert sim.cluster["status"]["state"] == "configured"


def test_config_change_records_never_count_for_a_resize(app: KubeDirectorApp) -> None:
    from datetime import UTC, datetime

    from kubedirector_core.plan import done, record_outcome

    action = MemberAction(
        key="plugin-reload",
        member=MASTER,
        container="app",
        kind=ActionKind.PLUGIN,
        command=("true",),
        plugin_key="reload:2",
        hook="kd_on_config_change",
    )
    now = datetime(2024, 5, 1, tzinfo=UTC)
    status = record_outcome({}, ActionOutcome(action=action, exit_code=0, output_tail=""), now)
    assert done.config_change_keys(status) == {"reload:2"}
    assert done.done_keys(status, "master") == frozenset()
    done.forget_role(status, "master")
    assert done.config_change_keys(status) == {"reload:2"}
    done.forget_config_change(status)
    assert "doneActions" not in status


def test_a_second_change_before_the_first_finished_is_told_against_the_last_reconciled(
    app: KubeDirectorApp,
) -> None:
    def runner(action: MemberAction) -> ActionOutcome:
        if action.kind is ActionKind.PLUGIN and action.plugin_key == "reload:2":
            return ActionOutcome(action=action, exit_code=1, output_tail="")  # never succeeds
        return succeed(action)

    reloader = Reloader()
    sim = _sim(app, reloader)
    sim.runner = runner
    sim.converge()
    _connect(sim, "other")
    sim.step()
    sim.step()  # asked; its action failed
    assert sim.cluster["status"]["configChange"]["actions"] == ["reload:2"]
    _connect(sim, "other", "third")
    sim.converge()
    assert [(s.old_connections, s.connections, s.old_generation) for s in reloader.calls] == [
        (None, {"clusters": ["other"]}, 1),
        (None, {"clusters": ["other", "third"]}, 1),
    ]
    # The failed attempt for the first values, then the action for the values now.
    assert [c.key for c in _plugin_calls(sim)] == [_plugin_key("reload:2"), _plugin_key("reload:3")]
    status = sim.cluster["status"]
    assert status["reconciledConfig"] == {
        "generation": 3,
        "connections": {"clusters": ["other", "third"]},
    }
    assert "configChange" not in status
