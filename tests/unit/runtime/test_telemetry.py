"""The metrics a dashboard reads: names, labels, and values that follow what happened."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubedirector_core import KubeDirectorApp, KubeDirectorCluster, PluginError
from kubedirector_core.plan.model import ActionKind, ActionOutcome, MemberAction
from kubedirector_core.runtime.telemetry import Telemetry
from kubedirector_core.runtime.workqueue import WorkQueue
from kubedirector_core.testing.plugin_fixtures import isolated_hooks

from .apps import DEMO_APP

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(telemetry: Telemetry) -> Samples:
    status, content_type, body = telemetry.exposition()
    assert status == 200
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, series: str, **labels: str) -> float:
    return samples.get((series, tuple(sorted(labels.items()))), 0.0)


def test_every_listed_series_is_exposed_from_the_start() -> None:
    samples = scrape(Telemetry())
    names = {name for name, _ in samples}
    for name in (
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_active_workers",
        "workqueue_depth",
        "workqueue_adds_total",
    ):
        assert name in names, name
    assert (
        value(
            samples,
            "controller_runtime_reconcile_total",
            controller="kubedirectorcluster",
            result="success",
        )
        == 0
    )


def test_reconciles_are_counted_by_result_and_timed() -> None:
    telemetry = Telemetry()
    with telemetry.measure_reconcile() as measured:
        measured(failed=False, requeue=False)
    with telemetry.measure_reconcile() as measured:
        measured(failed=False, requeue=True)
    with pytest.raises(RuntimeError), telemetry.measure_reconcile():
        raise RuntimeError("the reconcile itself broke")
    samples = scrape(telemetry)
    c = {"controller": "kubedirectorcluster"}
    for result in ("success", "requeue", "error"):
        assert value(samples, "controller_runtime_reconcile_total", **c, result=result) == 1
    assert value(samples, "controller_runtime_reconcile_errors_total", **c) == 1
    assert value(samples, "controller_runtime_reconcile_time_seconds_count", **c) == 3
    assert value(samples, "controller_runtime_active_workers", **c) == 0


def test_the_work_queue_reports_adds_depth_and_durations() -> None:
    telemetry = Telemetry()

    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(telemetry)
        queue.mark("a")
        queue.mark("a")  # coalesced: not another add
        queue.mark("b")
        assert value(scrape(telemetry), "workqueue_depth", name="kubedirectorcluster") == 2
        key = await queue.take()
        queue.mark("a")  # marked while running: added again once it is done
        queue.done(key)  # type: ignore[arg-type]
        await queue.close()

    asyncio.run(scenario())
    samples = scrape(telemetry)
    q = {"name": "kubedirectorcluster"}
    assert value(samples, "workqueue_adds_total", **q) == 3
    assert value(samples, "workqueue_depth", **q) == 2
    assert value(samples, "workqueue_queue_duration_seconds_count", **q) == 1
    assert value(samples, "workqueue_work_duration_seconds_count", **q) == 1


def test_clusters_and_members_are_counted_by_state_without_naming_any_cluster() -> None:
    telemetry = Telemetry()

    def body(state: str | None, *members: str) -> dict[str, Any]:
        if state is None:
            return {"metadata": {"name": "new"}}
        roles = [{"id": "worker", "members": [{"pod": "p", "state": m} for m in members]}]
        return {"metadata": {"name": "x"}, "status": {"state": state, "roles": roles}}

    telemetry.publish_states(
        [body("configured", "configured", "configured"), body("creating", "creating"), body(None)]
    )
    samples = scrape(telemetry)
    assert value(samples, "kubedirector_clusters", state="configured") == 1
    assert value(samples, "kubedirector_clusters", state="creating") == 1
    assert value(samples, "kubedirector_clusters", state="unknown") == 1
    assert value(samples, "kubedirector_members", state="configured") == 2
    assert value(samples, "kubedirector_members", state="creating") == 1
    telemetry.publish_states([])
    assert not any(name == "kubedirector_clusters" for name, _ in scrape(telemetry))


CLUSTER = {
    "apiVersion": "kubedirector.hpe.com/v1beta1",
    "kind": "KubeDirectorCluster",
    "metadata": {"name": "c1", "namespace": "ns"},
    "spec": {
        "app": "demo",
        "roles": [
            {
                "id": "worker",
                "members": 1,
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
            }
        ],
    },
}


def test_hook_calls_through_the_facade_are_timed_and_failures_counted_per_plugin() -> None:
    calls = {"n": 0}

    def kd_configmeta() -> dict[str, str]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("broken on the second call")
        return {"answer": "42"}

    plugin = types.SimpleNamespace(kd_configmeta=kd_configmeta, kd_claims=lambda: ["example/*"])
    hooks = isolated_hooks(("flaky", plugin))
    telemetry = Telemetry()
    hooks.add_observer(telemetry.hook_called)
    app, cluster = KubeDirectorApp.from_wire(DEMO_APP), KubeDirectorCluster.from_wire(CLUSTER)
    hooks.configmeta(app, cluster)
    with pytest.raises(PluginError):
        hooks.configmeta(app, cluster)
    samples = scrape(telemetry)
    labels = {"plugin": "flaky", "hook": "kd_configmeta"}
    assert value(samples, "kubedirector_hook_call_duration_seconds_count", **labels) == 2
    assert value(samples, "kubedirector_hook_errors_total", **labels) == 1


def test_actions_are_counted_by_kind_and_result() -> None:
    telemetry = Telemetry()
    action = MemberAction(
        key="configure-m-0",
        member="m-0",
        container="app",
        kind=ActionKind.CONFIGURE,
        command=("true",),
    )
    telemetry.action_done(ActionOutcome(action, 0, ""))
    telemetry.action_done(ActionOutcome(action, 3, "no"))
    telemetry.action_done(ActionOutcome(action, None, "", error="x", timed_out=True))
    telemetry.action_done(ActionOutcome(action, None, "", error="busy"))
    samples = scrape(telemetry)
    for result in ("succeeded", "failed", "timed_out", "not_run"):
        assert value(samples, "kubedirector_actions_total", kind="configure", result=result) == 1


def test_leadership_is_a_gauge_named_after_the_lease() -> None:
    telemetry = Telemetry()
    telemetry.leading("kubedirector-operator", False)
    assert (
        value(scrape(telemetry), "leader_election_master_status", name="kubedirector-operator") == 0
    )
    telemetry.leading("kubedirector-operator", True)
    assert (
        value(scrape(telemetry), "leader_election_master_status", name="kubedirector-operator") == 1
    )
