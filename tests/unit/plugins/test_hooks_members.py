"""Hook arguments and rules added for plugin authors: members, done resize actions,
the deciding plugin's name, and nonsense answers from policies.

Test names start with ``test_hook_<hook name without kd_>`` (see tests/meta).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from kubedirector_core import (
    AutoscaleInput,
    ClusterRole,
    ExecAction,
    Hooks,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MemberFile,
    NodeDown,
    NodeDownDecision,
    NodeProblem,
    PluginError,
    ResizeDecision,
    ResizePhase,
    ResizeVerdict,
    RoleResize,
    hookimpl,
)
from kubedirector_core.testing.plugin_fixtures import PluginRegistrar

EXAMPLE = ("example/*",)
MEMBERS = (
    Member(name="c1-master-0", role="master", ordinal=0, hostname="c1-master-0.d", node_id=1),
    Member(name="c1-worker-0", role="worker", ordinal=0, hostname="c1-worker-0.d", node_id=2),
)


def test_hook_configmeta_receives_every_member(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_configmeta(members: Sequence[Member]) -> dict[str, Any]:
        return {"hosts": [m.hostname for m in members], "ids": [m.node_id for m in members]}

    kd_register_plugin(kd_configmeta, name="peers", claims=EXAMPLE)
    metadata = kd_hooks.configmeta(app, cluster, MEMBERS)
    assert metadata["peers"] == {"hosts": ["c1-master-0.d", "c1-worker-0.d"], "ids": [1, 2]}


def test_hook_member_files_receive_every_member_and_old_plugins_still_work(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
) -> None:
    def kd_member_files(member: Member, members: Sequence[Member]) -> list[MemberFile]:
        peers = ",".join(m.name for m in members if m != member)
        return [MemberFile(path="/etc/peers", content=peers)]

    def old_kd_member_files(member: Member) -> list[MemberFile]:
        return [MemberFile(path="/etc/me", content=member.name)]

    kd_register_plugin(kd_member_files, name="new", claims=EXAMPLE)
    kd_register_plugin(
        hookimpl(specname="kd_member_files")(old_kd_member_files), name="old", claims=EXAMPLE
    )
    files = kd_hooks.member_files(app, cluster, role, MEMBERS[1], MEMBERS)
    assert {f.path: f.content for f in files} == {
        "/etc/peers": "c1-master-0",
        "/etc/me": "c1-worker-0",
    }


def _wait_for(*keys: str) -> ResizeDecision:
    return ResizeDecision.wait(
        *(ExecAction(key=k, member="c1-worker-2", command=("true",)) for k in keys),
        reason="draining",
    )


def test_hook_on_resize_wait_whose_actions_are_done_counts_as_proceed(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_on_resize(resize: RoleResize) -> ResizeDecision:
        return _wait_for("drain:a", "drain:b")

    kd_register_plugin(kd_on_resize, name="drainer", claims=EXAMPLE)

    def resize(*done: str) -> RoleResize:
        return RoleResize(
            role="worker",
            phase=ResizePhase.BEFORE_SHRINK,
            current_members=3,
            desired_members=2,
            done_keys=frozenset(done),
        )

    assert kd_hooks.on_resize(app, cluster, resize("drain:a")).verdict is ResizeVerdict.WAIT
    assert kd_hooks.on_resize(app, cluster, resize("drain:a", "drain:b")).verdict is (
        ResizeVerdict.PROCEED
    )

    def kd_on_resize_hold() -> ResizeDecision:
        return ResizeDecision.wait(reason="rebalancing", retry_after_seconds=30)

    kd_register_plugin(
        hookimpl(specname="kd_on_resize")(kd_on_resize_hold), name="holder", claims=EXAMPLE
    )
    held = kd_hooks.on_resize(app, cluster, resize("drain:a", "drain:b"))
    assert (held.verdict, held.reason) == (ResizeVerdict.WAIT, "holder: rebalancing")


def test_hook_on_node_down_decision_names_the_deciding_plugin(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    event = NodeDown(
        member=MEMBERS[1],
        node_name="n",
        problem=NodeProblem.NOT_READY,
        down_for_seconds=61,
        has_persistent_storage=False,
        grace_seconds=60,
    )
    decision, plugin = kd_hooks.node_down_decision(app, cluster, event)
    assert (decision.action.value, plugin) == ("replace-member", "core")  # the grace is honoured

    def kd_on_node_down() -> NodeDownDecision:
        return NodeDownDecision.restart_cluster("the job restarts together")

    kd_register_plugin(kd_on_node_down, name="tf", claims=EXAMPLE)
    assert kd_hooks.node_down_decision(app, cluster, event)[1] == "tf"


@pytest.mark.parametrize("answer", [-2, 1.5, True, "4"])
def test_hook_autoscale_policy_nonsense_is_a_plugin_error(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    answer: object,
) -> None:
    def kd_autoscale_policy() -> object:
        return answer

    kd_register_plugin(kd_autoscale_policy, name="silly", claims=EXAMPLE)
    request = AutoscaleInput(role="worker", current_members=3, min_members=1, max_members=5)
    with pytest.raises(PluginError, match="silly"):
        kd_hooks.autoscale_policy(app, cluster, request)
