"""Each hook as the core calls it through the facade: claims, combination rules, defaults.

Test names start with ``test_hook_<hook name without kd_>``: tests/meta checks
that every hook has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from kubedirector_core import (
    CPU_UTILIZATION,
    AutoscaleInput,
    ClusterRole,
    ExecAction,
    GangPolicy,
    Hooks,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MemberFile,
    NodeDown,
    NodeDownAction,
    NodeDownDecision,
    NodeProblem,
    PluginError,
    PluginLoadError,
    Problem,
    ResizeDecision,
    ResizePhase,
    ResizeVerdict,
    RoleResize,
    hookimpl,
)
from kubedirector_core.plugins import make_plugin_manager
from kubedirector_core.testing.plugin_fixtures import ISOLATED, HookRecorder, PluginRegistrar

EXAMPLE = ("example/*",)


def _action(key: str, member: str = "c1-worker-1") -> ExecAction:
    return ExecAction(key=key, member=member, command=("true",))


def _node_down(problem: NodeProblem, seconds: float, member: Member) -> NodeDown:
    return NodeDown(
        member=member,
        node_name="node-7",
        problem=problem,
        down_for_seconds=seconds,
        has_persistent_storage=True,
    )


# -- kd_claims ----------------------------------------------------------------


def test_hook_claims_limit_calls_to_claimed_apps(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    kd_hook_recorder: HookRecorder,
    app: KubeDirectorApp,
    other_app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_configmeta() -> dict[str, str]:
        return {"seen": "yes"}

    kd_register_plugin(kd_configmeta, name="demo-only", claims=["demo"])  # by app name

    assert kd_hooks.configmeta(app, cluster) == {"demo-only": {"seen": "yes"}}
    assert kd_hooks.configmeta(other_app, cluster) == {}
    assert kd_hook_recorder.plugins_called("kd_configmeta") == ["demo-only"]
    assert kd_hooks.claimed_by(app) == ["core", "demo-only"]


def test_hook_claims_absent_means_never_called(
    kd_hooks: Hooks, kd_plugin_manager: Any, app: KubeDirectorApp
) -> None:
    class Silent:
        @hookimpl
        def kd_validate_app(self) -> list[Problem]:
            raise AssertionError("a plugin that claims nothing was called")

    kd_plugin_manager.register(Silent(), name="silent")

    assert kd_hooks.validate_app(app) == []
    assert "silent" not in kd_hooks.claimed_by(app)


@pytest.mark.parametrize("claims", ["example/*", [""], [3], None])
def test_hook_claims_malformed_stop_start_up(claims: object) -> None:
    class Claims:
        @hookimpl
        def kd_claims(self) -> object:
            return claims

    with pytest.raises(PluginLoadError, match=r"plugin 'odd'.*kd_claims"):
        make_plugin_manager(ISOLATED, plugins=[("odd", Claims())], entry_points=())


# -- kd_validate_app / kd_validate_cluster ------------------------------------


def test_hook_validate_app_problems_carry_the_plugin_name(
    kd_hooks: Hooks, kd_register_plugin: PluginRegistrar, app: KubeDirectorApp
) -> None:
    def kd_validate_app(app: KubeDirectorApp) -> list[Problem]:
        return [Problem("spec.roles[0].cardinality", f"{app.metadata.name}: use a fixed count")]

    kd_register_plugin(kd_validate_app, name="strict", claims=EXAMPLE)

    [problem] = kd_hooks.validate_app(app)
    assert (problem.path, problem.source) == ("spec.roles[0].cardinality", "strict")


def test_hook_validate_app_failure_becomes_a_problem_naming_the_plugin(
    kd_hooks: Hooks, kd_register_plugin: PluginRegistrar, app: KubeDirectorApp
) -> None:
    def kd_validate_app() -> list[Problem]:
        raise KeyError("distroID")

    kd_register_plugin(kd_validate_app, name="broken", claims=EXAMPLE)

    [problem] = kd_hooks.validate_app(app)
    assert problem.is_error
    assert problem.source == "broken"
    assert "plugin 'broken' in hook kd_validate_app" in problem.message
    assert "KD_DISABLED_PLUGINS=broken" in problem.message


def test_hook_validate_cluster_sees_the_old_cluster_and_is_combined(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    make_cluster: Callable[..., KubeDirectorCluster],
) -> None:
    def kd_validate_cluster(
        cluster: KubeDirectorCluster, old: KubeDirectorCluster | None
    ) -> list[Problem]:
        if old and old.spec.roles[0].members != cluster.spec.roles[0].members:
            return [Problem("spec.roles[0].members", "cannot change", source="custom-source")]
        return []

    def kd_validate_cluster_wrong() -> str:
        return "not a list"

    kd_register_plugin(kd_validate_cluster, name="immutable", claims=EXAMPLE)
    kd_register_plugin(
        hookimpl(specname="kd_validate_cluster")(kd_validate_cluster_wrong), claims=EXAMPLE
    )

    new, old = make_cluster(members=3), make_cluster(members=2)
    problems = kd_hooks.validate_cluster(new, app, old)

    assert sorted(p.source or "" for p in problems) == ["custom-source", "throwaway-2"]
    assert kd_hooks.validate_cluster(new, app, None)[0].source == "throwaway-2"


# -- kd_pre_create ------------------------------------------------------------


def test_hook_pre_create_chains_plugins_and_never_touches_the_input(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    other_app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
) -> None:
    def kd_pre_create(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        objects[0]["metadata"]["labels"]["first"] = "1"
        return objects

    def kd_pre_create_second(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        labels = objects[0]["metadata"]["labels"]
        return [*objects, {"kind": "PodGroup", "seen": sorted(labels)}]

    def kd_pre_create_noop() -> None:
        return None

    kd_register_plugin(kd_pre_create, claims=EXAMPLE)
    kd_register_plugin(_named("kd_pre_create", kd_pre_create_noop), claims=EXAMPLE)
    kd_register_plugin(_named("kd_pre_create", kd_pre_create_second), claims=EXAMPLE)
    objects = [{"kind": "StatefulSet", "metadata": {"labels": {}}}]

    rendered = kd_hooks.pre_create(app, cluster, role, objects)

    # registered last is called first: the second plugin does not see "first"
    assert rendered == [
        {"kind": "StatefulSet", "metadata": {"labels": {"first": "1"}}},
        {"kind": "PodGroup", "seen": []},
    ]
    assert objects == [{"kind": "StatefulSet", "metadata": {"labels": {}}}]
    assert kd_hooks.pre_create(other_app, cluster, role, objects) == objects


def _named(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` registered under another hook name (pluggy's specname)."""
    return hookimpl(specname=name)(function)


def test_hook_pre_create_wrong_result_names_the_plugin(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
) -> None:
    def kd_pre_create() -> dict[str, str]:
        return {"kind": "StatefulSet"}

    kd_register_plugin(kd_pre_create, name="sloppy", claims=EXAMPLE)

    with pytest.raises(PluginError, match="plugin 'sloppy' in hook kd_pre_create: returned dict"):
        kd_hooks.pre_create(app, cluster, role, [])


# -- kd_configmeta ------------------------------------------------------------


def test_hook_configmeta_is_namespaced_by_plugin_and_must_be_json(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_configmeta(cluster: KubeDirectorCluster) -> dict[str, Any]:
        return {"namenode": f"{cluster.metadata.name}-nn-0", "ports": (8020, 9870)}

    kd_register_plugin(kd_configmeta, name="hdfs", claims=EXAMPLE)
    assert kd_hooks.configmeta(app, cluster) == {
        "hdfs": {"namenode": "c1-nn-0", "ports": [8020, 9870]}
    }

    def kd_configmeta_bad() -> dict[str, Any]:
        return {"when": object()}

    kd_register_plugin(_named("kd_configmeta", kd_configmeta_bad), name="bad", claims=EXAMPLE)
    with pytest.raises(PluginError, match=r"plugin 'bad' in hook kd_configmeta: .*not JSON"):
        kd_hooks.configmeta(app, cluster)


# -- kd_member_files ----------------------------------------------------------


def test_hook_member_files_are_collected_and_paths_not_shared(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    member: Member,
) -> None:
    def kd_member_files(member: Member) -> list[MemberFile]:
        return [MemberFile(path="/etc/tf_config.json", content=f'{{"index": {member.ordinal}}}')]

    kd_register_plugin(kd_member_files, name="tf", claims=EXAMPLE)
    [delivered] = kd_hooks.member_files(app, cluster, role, member)
    assert delivered.content == '{"index": 0}'

    kd_register_plugin(kd_member_files, name="tf-again", claims=EXAMPLE)
    with pytest.raises(
        PluginError, match=r"plugin 'tf' in .*/etc/tf_config.json.*plugin 'tf-again'"
    ):
        kd_hooks.member_files(app, cluster, role, member)


# -- kd_gang_policy -----------------------------------------------------------


def test_hook_gang_policy_first_answer_wins_and_none_is_the_default(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    assert kd_hooks.gang_policy(app, cluster) is None

    def kd_gang_policy() -> GangPolicy:
        return GangPolicy(min_members={"worker": 2})

    def kd_gang_policy_abstain() -> None:
        return None

    kd_register_plugin(kd_gang_policy, claims=EXAMPLE)
    kd_register_plugin(_named("kd_gang_policy", kd_gang_policy_abstain), claims=EXAMPLE)

    policy = kd_hooks.gang_policy(app, cluster)
    assert policy is not None
    assert dict(policy.min_members) == {"worker": 2}


# -- kd_member_readiness ------------------------------------------------------


def test_hook_member_readiness_returns_the_plugins_check(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: ClusterRole,
    member: Member,
) -> None:
    assert kd_hooks.member_readiness(app, cluster, role, member) is None

    def kd_member_readiness(member: Member) -> ExecAction:
        return ExecAction(
            key=f"ready:{member.name}", member=member.name, command=("hdfs", "dfsadmin")
        )

    kd_register_plugin(kd_member_readiness, claims=EXAMPLE)
    check = kd_hooks.member_readiness(app, cluster, role, member)
    assert check is not None
    assert check.key == "ready:c1-worker-0"

    def kd_member_readiness_wrong() -> bool:
        return True

    kd_register_plugin(_named("kd_member_readiness", kd_member_readiness_wrong), claims=EXAMPLE)
    with pytest.raises(PluginError, match="returned True, expected a ExecAction or None"):
        kd_hooks.member_readiness(app, cluster, role, member)


# -- kd_on_resize -------------------------------------------------------------


def _shrink(phase: ResizePhase = ResizePhase.BEFORE_SHRINK) -> RoleResize:
    return RoleResize(role="worker", phase=phase, current_members=3, desired_members=2)


def test_hook_on_resize_combines_waits_and_refusal_wins(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    assert kd_hooks.on_resize(app, cluster, _shrink()).verdict is ResizeVerdict.PROCEED

    def kd_on_resize(resize: RoleResize) -> ResizeDecision:
        return ResizeDecision.wait(_action("decommission:dn-2"), reason="draining")

    def kd_on_resize_later() -> ResizeDecision:
        return ResizeDecision.wait(reason="rebalancing", retry_after_seconds=30)

    kd_register_plugin(kd_on_resize, name="hdfs", claims=EXAMPLE)
    kd_register_plugin(_named("kd_on_resize", kd_on_resize_later), name="yarn", claims=EXAMPLE)

    waiting = kd_hooks.on_resize(app, cluster, _shrink())
    assert waiting.verdict is ResizeVerdict.WAIT
    assert [a.key for a in waiting.actions] == ["decommission:dn-2"]
    assert waiting.reason == "yarn: rebalancing; hdfs: draining"
    assert waiting.retry_after_seconds == 30

    def kd_on_resize_refuse() -> ResizeDecision:
        return ResizeDecision.refuse("quorum needs 3")

    kd_register_plugin(_named("kd_on_resize", kd_on_resize_refuse), name="zk", claims=EXAMPLE)
    refused = kd_hooks.on_resize(app, cluster, _shrink())
    assert (refused.verdict, refused.reason) == (ResizeVerdict.REFUSE, "zk: quorum needs 3")

    with pytest.raises(PluginError, match=r"plugin 'zk' in hook kd_on_resize: refused .* grew"):
        kd_hooks.on_resize(app, cluster, _shrink(ResizePhase.AFTER_GROW))


# -- kd_on_config_change ------------------------------------------------------


def test_hook_on_config_change_collects_actions(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    make_cluster: Callable[..., KubeDirectorCluster],
) -> None:
    def kd_on_config_change(
        cluster: KubeDirectorCluster, old: KubeDirectorCluster
    ) -> list[ExecAction]:
        return [_action(f"reload:{old.metadata.name}")]

    kd_register_plugin(kd_on_config_change, claims=EXAMPLE)
    actions = kd_hooks.on_config_change(app, make_cluster(), make_cluster())
    assert [a.key for a in actions] == ["reload:c1"]


# -- kd_on_node_down ----------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "seconds", "action"),
    [
        (NodeProblem.GONE, 0, NodeDownAction.REPLACE_MEMBER),
        (NodeProblem.NOT_READY, 10, NodeDownAction.WAIT),
        (NodeProblem.UNREACHABLE, 299, NodeDownAction.WAIT),
        (NodeProblem.UNREACHABLE, 300, NodeDownAction.REPLACE_MEMBER),
    ],
)
def test_hook_on_node_down_default_policy(
    kd_hooks: Hooks,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    member: Member,
    problem: NodeProblem,
    seconds: float,
    action: NodeDownAction,
) -> None:
    decision = kd_hooks.on_node_down(app, cluster, _node_down(problem, seconds, member))
    assert decision.action is action
    assert "node-7" in decision.reason
    if action is NodeDownAction.WAIT:
        assert decision.retry_after_seconds is not None
        assert 0 < decision.retry_after_seconds <= 30


def test_hook_on_node_down_plugin_answer_wins_over_the_default_in_any_order(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, member: Member
) -> None:
    class RestartRole:
        @hookimpl
        def kd_claims(self) -> Sequence[str]:
            return EXAMPLE

        @hookimpl
        def kd_on_node_down(self) -> NodeDownDecision:
            return NodeDownDecision.restart_role("a TF worker cannot be replaced alone")

    # the defaults are registered before the plugin, here and always: trylast decides
    pm = make_plugin_manager(ISOLATED, plugins=[("tf", RestartRole())], entry_points=())
    decision = Hooks(pm).on_node_down(app, cluster, _node_down(NodeProblem.GONE, 0, member))
    assert decision.action is NodeDownAction.RESTART_ROLE


# -- kd_autoscale_policy ------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "utilization", "desired"),
    [
        (4, None, 4),  # no metric: keep
        (4, 0.75, 4),  # within 10 % of 0.7: keep
        (4, 1.4, 8),  # twice the target: double
        (4, 0.35, 2),  # half the target: halve
        (4, 0.05, 1),  # never below the minimum
        (9, 1.0, 10),  # never above the maximum
        (0, 1.0, 1),  # an empty role is brought to its minimum
    ],
)
def test_hook_autoscale_policy_default_steers_cpu_to_the_target(
    kd_hooks: Hooks,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    current: int,
    utilization: float | None,
    desired: int,
) -> None:
    metrics = {} if utilization is None else {CPU_UTILIZATION: utilization}
    request = AutoscaleInput(
        role="worker", current_members=current, min_members=1, max_members=10, metrics=metrics
    )
    assert kd_hooks.autoscale_policy(app, cluster, request) == desired


def test_hook_autoscale_policy_plugin_answer_is_clamped_and_none_abstains(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_autoscale_policy(request: AutoscaleInput) -> int | None:
        queue = request.metrics.get("pending_jobs")
        return None if queue is None else int(queue)

    kd_register_plugin(kd_autoscale_policy, claims=EXAMPLE)

    def request(**metrics: float) -> AutoscaleInput:
        return AutoscaleInput(
            role="worker", current_members=3, min_members=2, max_members=6, metrics=metrics
        )

    assert kd_hooks.autoscale_policy(app, cluster, request(pending_jobs=50)) == 6
    assert kd_hooks.autoscale_policy(app, cluster, request(pending_jobs=4)) == 4
    assert kd_hooks.autoscale_policy(app, cluster, request()) == 3  # the default: no cpu metric
