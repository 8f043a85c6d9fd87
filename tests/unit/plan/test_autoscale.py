"""Autoscaling: a policy picks the size, windows stop flapping, the resize path applies it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kubedirector_core import AutoscaleInput, ResizeDecision, RoleResize, hookimpl
from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster

from .conftest import cluster_wire, isolated_hooks
from .simulate import Sim

LOAD = "load"


class Steer:
    """Wants one worker per unit of load; ``answer`` overrides (a value, or raises)."""

    def __init__(self) -> None:
        self.answer: Any = None
        self.requests: list[AutoscaleInput] = []
        self.resizes: list[RoleResize] = []

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_autoscale_policy(self, request: AutoscaleInput) -> Any:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:
            return self.answer
        load = request.metrics.get(LOAD)
        return None if load is None else int(load)

    @hookimpl
    def kd_on_resize(self, resize: RoleResize) -> ResizeDecision | None:
        self.resizes.append(resize)
        return None


def _sim(app: KubeDirectorApp, **autoscale: Any) -> tuple[Sim, Steer]:
    document = cluster_wire()
    settings = {
        "minMembers": 2,
        "maxMembers": 5,
        "evaluationIntervalSeconds": 30,
        "scaleUpStabilizationSeconds": 0,
        "scaleDownStabilizationSeconds": 120,
        "metricSource": {"type": "Plugin"},
        **autoscale,
    }
    for role in document["spec"]["roles"]:
        if role["id"] == "worker":
            role["members"] = 2
            role["autoscale"] = settings
    steer = Steer()
    sim = Sim(app=app, cluster=document, hooks=isolated_hooks(("steer", steer)))
    return sim, steer


def _workers(sim: Sim) -> int:
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == "worker"]
    return len(role["members"])


def _record(sim: Sim) -> dict[str, Any]:
    [record] = sim.cluster["status"]["autoscale"]
    assert isinstance(record, dict)
    return record


def _tick(sim: Sim, load: float | None, seconds: int = 30) -> None:
    sim.metrics = {} if load is None else {"worker": {LOAD: load}}
    sim.now += timedelta(seconds=seconds)
    sim.converge()


def test_workers_scale_2_to_5_to_2_within_bounds_through_on_resize(app: KubeDirectorApp) -> None:
    sim, steer = _sim(app)
    _tick(sim, 2)
    assert _workers(sim) == 2
    _tick(sim, 9)  # more than max: clamped
    assert _workers(sim) == 5
    assert _record(sim)["lastDecision"]["recommendedMembers"] == 5
    assert any(r.phase.value == "after-grow" and r.desired_members == 5 for r in steer.resizes)
    _tick(sim, 0)  # below min; held by the scale-down window
    assert _workers(sim) == 5
    assert "scale-down window" in _record(sim)["lastDecision"]["reason"]
    for _ in range(4):
        _tick(sim, 0)
    assert _workers(sim) == 2  # min, never below
    assert any(r.phase.value == "before-shrink" and r.desired_members == 2 for r in steer.resizes)
    assert all(2 <= r.current_members <= 5 for r in steer.requests)
    autoscaled = [e for p in sim.plans for e in p.events if e.reason == "Autoscaled"]
    assert [e.message.split(":")[1].split("members")[0].strip() for e in autoscaled] == [
        "2 -> 5",
        "5 -> 2",
    ]


def test_a_brief_dip_does_not_shrink_the_role(app: KubeDirectorApp) -> None:
    sim, _ = _sim(app)
    _tick(sim, 4)
    assert _workers(sim) == 4
    _tick(sim, 2)
    _tick(sim, 4)
    _tick(sim, 2)
    assert _workers(sim) == 4


def test_the_policy_is_asked_once_per_interval(app: KubeDirectorApp) -> None:
    sim, steer = _sim(app)
    _tick(sim, 3)
    asked = len(steer.requests)
    _tick(sim, 5, seconds=5)
    assert len(steer.requests) == asked
    _tick(sim, 5, seconds=30)
    assert len(steer.requests) == asked + 1


@pytest.mark.parametrize("answer", [-1, 2.5, "3", True, RuntimeError("boom")])
def test_a_policy_answering_nonsense_keeps_the_size_with_a_clear_condition(
    app: KubeDirectorApp, answer: Any
) -> None:
    sim, steer = _sim(app)
    _tick(sim, 3)
    assert _workers(sim) == 3
    steer.answer = answer
    _tick(sim, 5)
    assert _workers(sim) == 3
    condition = next(c for c in sim.cluster["status"]["conditions"] if c["type"] == "Autoscaling")
    assert (condition["status"], condition["reason"]) == ("False", "PolicyFailed")
    assert "steer" in condition["message"]
    assert "size kept" in _record(sim)["lastDecision"]["reason"]


def test_missing_metrics_keep_the_size(app: KubeDirectorApp) -> None:
    sim, _ = _sim(app, metricSource={"type": "Resource"})
    _tick(sim, None)
    assert _workers(sim) == 2
    condition = next(c for c in sim.cluster["status"]["conditions"] if c["type"] == "Autoscaling")
    assert condition["reason"] == "MetricsUnavailable"


def test_a_role_with_fixed_cardinality_is_not_autoscaled(app: KubeDirectorApp) -> None:
    document = cluster_wire()
    document["spec"]["roles"][0]["autoscale"] = {"minMembers": 1, "maxMembers": 3}
    sim = Sim(app=app, cluster=document, hooks=isolated_hooks())
    sim.metrics = {"master": {"cpu_utilization": 1.0}}
    sim.converge()
    condition = next(c for c in sim.cluster["status"]["conditions"] if c["type"] == "Autoscaling")
    assert condition["reason"] == "FixedCardinality"
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == "master"]
    assert len(role["members"]) == 1


def test_min_greater_than_max_is_refused_by_the_model() -> None:
    document = cluster_wire()
    document["spec"]["roles"][1]["autoscale"] = {"minMembers": 4, "maxMembers": 2}
    with pytest.raises(ValidationError, match="minMembers"):
        KubeDirectorCluster.from_wire(document)
