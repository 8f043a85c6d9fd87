"""The metrics hooks: a plugin says where a role's metrics are and parses what the core fetched.

Test names start with ``test_hook_<hook name without kd_>`` (see tests/meta).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from kubedirector_core import (
    Hooks,
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MetricsEndpoint,
    MetricsReading,
    PluginError,
)
from kubedirector_core.testing.plugin_fixtures import PluginRegistrar

EXAMPLE = ("example/*",)
WORKERS = (
    Member(name="c1-worker-0", role="worker", ordinal=0, hostname="c1-worker-0.d", node_id=1),
    Member(name="c1-worker-1", role="worker", ordinal=1, hostname="c1-worker-1.d", node_id=2),
)


def _reading(body: str) -> MetricsReading:
    return MetricsReading(role="worker", members=WORKERS, url="http://c1-worker-0.d:80", body=body)


def test_hook_metrics_endpoint_gets_the_role_and_its_members(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_metrics_endpoint(role: str, members: Sequence[Member]) -> MetricsEndpoint:
        return MetricsEndpoint(url=f"http://{members[0].hostname}:8088/{role}")

    assert kd_hooks.metrics_endpoint(app, cluster, "worker", WORKERS) is None  # no plugin
    kd_register_plugin(kd_metrics_endpoint, name="yarnish", claims=EXAMPLE)
    endpoint = kd_hooks.metrics_endpoint(app, cluster, "worker", WORKERS)
    assert endpoint == MetricsEndpoint(url="http://c1-worker-0.d:8088/worker")


def test_hook_metrics_endpoint_answering_a_string_is_a_plugin_error(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_metrics_endpoint() -> str:
        return "http://somewhere"

    kd_register_plugin(kd_metrics_endpoint, name="sloppy", claims=EXAMPLE)
    with pytest.raises(PluginError, match=r"sloppy.*MetricsEndpoint"):
        kd_hooks.metrics_endpoint(app, cluster, "worker", WORKERS)


def test_hook_metrics_endpoint_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        MetricsEndpoint(url="file:///etc/passwd")


def test_hook_read_metrics_parses_the_body_and_names_the_plugin(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    seen: list[MetricsReading] = []

    def kd_read_metrics(reading: MetricsReading) -> dict[str, float]:
        seen.append(reading)
        return {"pending": int(reading.body), "load": 0.5}

    assert kd_hooks.read_metrics(app, cluster, _reading("7")) is None  # nobody answered
    kd_register_plugin(kd_read_metrics, name="yarnish", claims=EXAMPLE)
    assert kd_hooks.read_metrics(app, cluster, _reading("7")) == (
        {"pending": 7.0, "load": 0.5},
        "yarnish",
    )
    assert seen[-1].members == WORKERS


@pytest.mark.parametrize(
    "answer",
    [
        [("load", 1.0)],
        "load=1",
        {"load": "1"},
        {"load": math.nan},
        {"load": math.inf},
        {1: 2.0},
        {"load": 10**400},
    ],
    ids=["list", "string", "string-value", "nan", "inf", "int-key", "huge"],
)
def test_hook_read_metrics_nonsense_is_a_plugin_error(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    answer: object,
) -> None:
    def kd_read_metrics() -> object:
        return answer

    kd_register_plugin(kd_read_metrics, name="garbled", claims=EXAMPLE)
    with pytest.raises(PluginError, match=r"garbled.*kd_read_metrics|kd_read_metrics.*garbled"):
        kd_hooks.read_metrics(app, cluster, _reading("1"))


def test_hook_read_metrics_true_is_not_a_number(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_read_metrics() -> dict[str, object]:
        return {"busy": True}

    kd_register_plugin(kd_read_metrics, name="boolish", claims=EXAMPLE)
    with pytest.raises(PluginError, match="finite numbers"):
        kd_hooks.read_metrics(app, cluster, _reading("1"))
