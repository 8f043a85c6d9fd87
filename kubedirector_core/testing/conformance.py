"""A conformance suite every plugin runs against its own apps.

Subclass :class:`PluginConformance` in a test module whose name pytest
collects, name the plugin, and provide the apps it claims::

    from kubedirector_core.testing.conformance import ConformanceCase, PluginConformance

    class TestMyPluginConformance(PluginConformance):
        plugin_name = "my-plugin"

        @pytest.fixture
        def kd_plugin(self) -> object:
            return my_plugin_module

        @pytest.fixture
        def kd_cases(self) -> list[ConformanceCase]:
            return [ConformanceCase.load("catalog/my-app.yaml", "catalog/my-cluster.yaml")]

The suite checks what every plugin owes the core: it claims its apps;
validation answers with wire field paths, and finds something wrong in the
malformed clusters given; ``kd_pre_create`` is deterministic; ``kd_on_resize``
proceeds on a no-op resize; and an app the plugin does not claim is left
untouched (the plugin is not even called).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kubedirector_core.api import ClusterRole, KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.hooktypes import (
    AutoscaleInput,
    Member,
    MetricsReading,
    NodeDown,
    NodeProblem,
    ResizePhase,
    ResizeVerdict,
    RoleResize,
)
from kubedirector_core.plugins import HookCall, Hooks
from kubedirector_core.problems import Problem
from kubedirector_core.testing.plugin_fixtures import isolated_hooks, load_resource

__all__ = ["ConformanceCase", "MalformedCluster", "PluginConformance", "sample_role_objects"]

#: A field path as written on the wire: ``spec.roles[1].members``.
FIELD_PATH = re.compile(r"^(metadata|spec)(\.[A-Za-z0-9_/-]+|\[\d+\])*$")


@dataclass(frozen=True)
class MalformedCluster:
    """A cluster the plugin must reject, and where the problem must be reported."""

    cluster: KubeDirectorCluster
    #: The reported path must start with this (``spec.roles[0]``).
    path_prefix: str


@dataclass(frozen=True)
class ConformanceCase:
    """An app the plugin claims, a valid cluster of it, and malformed clusters of it."""

    app: KubeDirectorApp
    cluster: KubeDirectorCluster
    malformed: Sequence[MalformedCluster] = field(default_factory=tuple)

    @classmethod
    def load(
        cls, app: str | Path | Mapping[str, Any], cluster: str | Path | Mapping[str, Any]
    ) -> ConformanceCase:
        """Read the app and the cluster from JSON/YAML files or mappings."""
        return cls(load_resource(app, KubeDirectorApp), load_resource(cluster, KubeDirectorCluster))


def sample_role_objects(cluster: KubeDirectorCluster, role: ClusterRole) -> list[dict[str, Any]]:
    """Minimal rendered objects of a role (a StatefulSet and its headless Service).

    Stands in for the plan renderer's output so that ``kd_pre_create`` can be
    exercised on the shape it will receive.
    """
    name = f"{cluster.metadata.name}-{role.id}"
    labels = {"kubedirector.hpe.com/kdcluster": cluster.metadata.name or "", "role": role.id}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {
                "replicas": role.members or 0,
                "serviceName": name,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {"containers": [{"name": "app", "image": "app:latest", "env": []}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"clusterIP": "None", "selector": dict(labels)},
        },
    ]


def _member(cluster: KubeDirectorCluster, role: ClusterRole, ordinal: int) -> Member:
    name = f"{cluster.metadata.name}-{role.id}-{ordinal}"
    return Member(name=name, role=role.id, ordinal=ordinal, hostname=f"{name}.example.local")


def _unclaimed(case: ConformanceCase) -> tuple[KubeDirectorApp, KubeDirectorCluster]:
    """The case's app and cluster under an app type nobody claims."""
    unclaimed = "kubedirector.test/nobody-claims-this-app"
    app = case.app.model_copy(deep=True)
    app.metadata.name = unclaimed
    app.spec.distro_id = unclaimed
    cluster = case.cluster.model_copy(deep=True)
    cluster.spec.app = unclaimed
    return app, cluster


class PluginConformance:
    """Tests every plugin must pass; subclass it as ``Test...`` and fill the fixtures."""

    #: The plugin's name (its entry-point name).
    plugin_name: ClassVar[str]

    @pytest.fixture
    def kd_plugin(self) -> object:
        """The plugin object the entry point names (usually a module)."""
        raise NotImplementedError("override the kd_plugin fixture")

    @pytest.fixture
    def kd_cases(self) -> Sequence[ConformanceCase]:
        """The apps the plugin claims, each with a valid cluster and malformed ones."""
        raise NotImplementedError("override the kd_cases fixture")

    @pytest.fixture
    def kd_conformance_hooks(self, kd_plugin: object) -> Hooks:
        """The core's defaults and this plugin alone."""
        return isolated_hooks((self.plugin_name, kd_plugin))

    def _implements(self, hooks: Hooks, hook: str) -> bool:
        info = {plugin.name: plugin for plugin in hooks.plugins()}[self.plugin_name]
        return hook in info.hooks

    def test_claims_its_apps(
        self, kd_conformance_hooks: Hooks, kd_cases: Sequence[ConformanceCase]
    ) -> None:
        assert kd_cases, "give at least one app the plugin claims (kd_cases)"
        for case in kd_cases:
            assert self.plugin_name in kd_conformance_hooks.claimed_by(case.app), (
                f"{self.plugin_name} does not claim app {case.app.metadata.name}"
            )

    def test_validation_reports_wire_field_paths(
        self, kd_conformance_hooks: Hooks, kd_cases: Sequence[ConformanceCase]
    ) -> None:
        if not (
            self._implements(kd_conformance_hooks, "kd_validate_cluster")
            or self._implements(kd_conformance_hooks, "kd_validate_app")
        ):
            pytest.skip(f"{self.plugin_name} implements no validate hook")
        for case in kd_cases:
            problems = kd_conformance_hooks.validate_app(case.app)
            problems += kd_conformance_hooks.validate_cluster(case.cluster, case.app, None)
            assert [p for p in problems if p.is_error] == [], "the valid cases must pass"
            for bad in case.malformed:
                found = kd_conformance_hooks.validate_cluster(bad.cluster, case.app, case.cluster)
                assert found, f"nothing reported for a cluster malformed at {bad.path_prefix}"
                assert any(p.path.startswith(bad.path_prefix) for p in found), found
                self._assert_paths(found)

    def test_malformed_cases_given_when_validating(
        self, kd_conformance_hooks: Hooks, kd_cases: Sequence[ConformanceCase]
    ) -> None:
        if not self._implements(kd_conformance_hooks, "kd_validate_cluster"):
            pytest.skip(f"{self.plugin_name} does not implement kd_validate_cluster")
        assert any(case.malformed for case in kd_cases), (
            "the plugin validates clusters: give malformed clusters in kd_cases"
        )

    @staticmethod
    def _assert_paths(problems: Sequence[Problem]) -> None:
        for problem in problems:
            assert FIELD_PATH.match(problem.path), f"not a wire field path: {problem.path!r}"
            assert problem.message, f"a problem at {problem.path} says nothing"

    def test_pre_create_is_deterministic(
        self, kd_conformance_hooks: Hooks, kd_cases: Sequence[ConformanceCase]
    ) -> None:
        for case in kd_cases:
            for role in case.cluster.spec.roles:
                objects = sample_role_objects(case.cluster, role)
                pristine = copy.deepcopy(objects)
                first = kd_conformance_hooks.pre_create(case.app, case.cluster, role, objects)
                second = kd_conformance_hooks.pre_create(case.app, case.cluster, role, objects)
                assert first == second, f"role {role.id}: two renders differ"
                assert objects == pristine, f"role {role.id}: the input objects were changed"

    def test_on_resize_proceeds_on_a_noop_resize(
        self, kd_conformance_hooks: Hooks, kd_cases: Sequence[ConformanceCase]
    ) -> None:
        for case in kd_cases:
            for role in case.cluster.spec.roles:
                count = role.members or 0
                for phase in ResizePhase:
                    resize = RoleResize(
                        role=role.id, phase=phase, current_members=count, desired_members=count
                    )
                    decision = kd_conformance_hooks.on_resize(case.app, case.cluster, resize)
                    assert decision.verdict is ResizeVerdict.PROCEED, (role.id, phase, decision)

    def test_leaves_unclaimed_apps_untouched(
        self, kd_conformance_hooks: Hooks, kd_cases: Sequence[ConformanceCase]
    ) -> None:
        calls: list[HookCall] = []
        remove = kd_conformance_hooks.add_observer(calls.append)
        try:
            for case in kd_cases:
                self._exercise_every_hook(kd_conformance_hooks, *_unclaimed(case))
        finally:
            remove()
        assert [c.hook for c in calls if c.plugin == self.plugin_name] == []

    @staticmethod
    def _exercise_every_hook(
        hooks: Hooks, app: KubeDirectorApp, cluster: KubeDirectorCluster
    ) -> None:
        hooks.validate_app(app)
        hooks.validate_cluster(cluster, app, cluster)
        hooks.configmeta(app, cluster)
        hooks.gang_policy(app, cluster)
        hooks.on_config_change(app, cluster, cluster)
        for role in cluster.spec.roles:
            objects = sample_role_objects(cluster, role)
            assert hooks.pre_create(app, cluster, role, objects) == objects
            member = _member(cluster, role, 0)
            hooks.member_files(app, cluster, role, member)
            hooks.member_readiness(app, cluster, role, member)
            resize = RoleResize(
                role=role.id, phase=ResizePhase.AFTER_GROW, current_members=1, desired_members=2
            )
            hooks.on_resize(app, cluster, resize)
            down = NodeDown(
                member=member,
                node_name="node-1",
                problem=NodeProblem.GONE,
                down_for_seconds=1.0,
                has_persistent_storage=False,
            )
            hooks.on_node_down(app, cluster, down)
            request = AutoscaleInput(role=role.id, current_members=1, min_members=1, max_members=3)
            hooks.autoscale_policy(app, cluster, request)
            hooks.metrics_endpoint(app, cluster, role.id, (member,))
            reading = MetricsReading(
                role=role.id, members=(member,), url="http://metrics.invalid/", body="{}"
            )
            hooks.read_metrics(app, cluster, reading)
