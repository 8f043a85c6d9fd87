"""The conformance suite passes a good plugin (the example) and fails bad ones."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kubedirector_core import KubeDirectorCluster, Problem, ResizeDecision
from kubedirector_core.testing.conformance import (
    ConformanceCase,
    MalformedCluster,
    PluginConformance,
)
from kubedirector_core.testing.plugin_fixtures import isolated_hooks

EXAMPLE = Path(__file__).resolve().parents[3] / "examples/kd-example-plugin/kd_example_plugin"


def _example_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kd_example_plugin", EXAMPLE / "__init__.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestExamplePluginConformance(PluginConformance):
    plugin_name = "example"

    @pytest.fixture
    def kd_plugin(self) -> object:
        return _example_plugin()

    @pytest.fixture
    def kd_cases(self, make_app: Any, make_cluster: Any) -> list[ConformanceCase]:
        too_big = MalformedCluster(make_cluster(members=9), path_prefix="spec.roles[0].members")
        return [ConformanceCase(make_app(), make_cluster(), malformed=(too_big,))]


class Flawed:
    """A plugin breaking each promise the suite checks."""

    def __init__(self) -> None:
        self.renders = itertools.count()

    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    def kd_validate_cluster(self) -> list[Problem]:
        return [Problem("roles/0", "path in the wrong syntax")]

    def kd_pre_create(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        objects[0]["metadata"]["annotations"] = {"render": str(next(self.renders))}
        return objects

    def kd_on_resize(self) -> ResizeDecision:
        return ResizeDecision.refuse("never resize")


@pytest.mark.parametrize(
    "check",
    [
        "test_validation_reports_wire_field_paths",
        "test_pre_create_is_deterministic",
        "test_on_resize_proceeds_on_a_noop_resize",
    ],
)
def test_conformance_fails_a_flawed_plugin(check: str, make_app: Any, make_cluster: Any) -> None:
    class FlawedConformance(PluginConformance):
        plugin_name = "flawed"

    hooks = isolated_hooks(("flawed", Flawed()))
    cluster: KubeDirectorCluster = make_cluster(members=9)
    case = ConformanceCase(make_app(), make_cluster(), (MalformedCluster(cluster, "spec"),))
    with pytest.raises(AssertionError):
        getattr(FlawedConformance(), check)(hooks, [case])


def test_conformance_fails_a_plugin_that_claims_everything(
    make_app: Any, make_cluster: Any
) -> None:
    class Greedy:
        def kd_claims(self) -> tuple[str, ...]:
            return ("*",)

        def kd_configmeta(self) -> dict[str, str]:
            return {}

    class GreedyConformance(PluginConformance):
        plugin_name = "greedy"

    hooks = isolated_hooks(("greedy", Greedy()))
    with pytest.raises(AssertionError):
        GreedyConformance().test_leaves_unclaimed_apps_untouched(
            hooks, [ConformanceCase(make_app(), make_cluster())]
        )
