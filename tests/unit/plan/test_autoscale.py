"""Autoscaling: a policy picks the size, windows stop flapping, the resize path applies it."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from kubedirector_core import AutoscaleInput, ResizeDecision, RoleResize, hookimpl
from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.cli.status import describe
from kubedirector_core.cli.validate import validate
from kubedirector_core.plan import Observed
from kubedirector_core.plan.autoscale import listed_members, roles_due
from kubedirector_core.validation import validate_cluster

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


def test_a_role_with_fixed_cardinality_is_refused_by_validation(app: KubeDirectorApp) -> None:
    document = cluster_wire()
    document["spec"]["roles"][0]["autoscale"] = {"minMembers": 1, "maxMembers": 3}
    _, problems = validate_cluster(document, app)
    [problem] = problems
    assert problem.path == "spec.roles[0].autoscale"
    assert "fixes its cardinality at '1'" in problem.message
    assert "Remove autoscale" in problem.message
    # The planner says the same in the Valid condition and creates nothing for it.
    sim = Sim(app=app, cluster=document, hooks=isolated_hooks())
    sim.metrics = {"master": {"cpu_utilization": 1.0}}
    sim.converge()
    valid = next(c for c in sim.cluster["status"]["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False"
    assert "spec.roles[0].autoscale" in valid["message"]
    assert not any(r.get("members") for r in sim.cluster["status"].get("roles") or [])


def test_a_disabled_autoscale_on_a_fixed_role_is_accepted(app: KubeDirectorApp) -> None:
    document = cluster_wire()
    document["spec"]["roles"][0]["autoscale"] = {
        "enabled": False,
        "minMembers": 1,
        "maxMembers": 3,
    }
    assert validate_cluster(document, app)[1] == []


def test_max_members_below_the_app_minimum_is_refused(app: KubeDirectorApp) -> None:
    document = cluster_wire()
    app_doc = app.to_wire()
    app_doc["spec"]["roles"][1]["cardinality"] = "3+"
    strict = KubeDirectorApp.from_wire(app_doc)
    document["spec"]["roles"][1]["autoscale"] = {"minMembers": 1, "maxMembers": 2}
    _, problems = validate_cluster(document, strict)
    [problem] = problems
    assert problem.path == "spec.roles[1].autoscale.maxMembers"
    assert "raise maxMembers to at least 3" in problem.message


def test_a_live_role_may_change_its_autoscale_settings(app: KubeDirectorApp) -> None:
    sim, _ = _sim(app)
    _tick(sim, 3)
    old = copy.deepcopy(sim.cluster)
    changed = copy.deepcopy(sim.cluster)
    changed["spec"]["roles"][1]["autoscale"]["maxMembers"] = 7
    assert validate_cluster(changed, app, old=old)[1] == []
    changed["spec"]["roles"][1]["resources"] = {"limits": {"cpu": "2", "memory": "8Gi"}}
    assert [p.path for p in validate_cluster(changed, app, old=old)[1]] == ["spec.roles[1]"]


def test_min_greater_than_max_is_refused_by_the_model() -> None:
    document = cluster_wire()
    document["spec"]["roles"][1]["autoscale"] = {"minMembers": 4, "maxMembers": 2}
    with pytest.raises(ValidationError, match="minMembers"):
        KubeDirectorCluster.from_wire(document)


class FailingSim(Sim):
    """The simulated runtime, also reporting why a role's metrics could not be read."""

    metric_errors: dict[str, str]

    def observed(self) -> Observed:
        return dataclasses.replace(super().observed(), metric_errors=dict(self.metric_errors))


def _failing_sim(app: KubeDirectorApp) -> tuple[FailingSim, Steer]:
    sim, steer = _sim(
        app, metricSource={"type": "Prometheus", "url": "http://127.0.0.1:9", "query": "up"}
    )
    failing = FailingSim(app=sim.app, cluster=sim.cluster, hooks=sim.hooks)
    failing.metric_errors = {}
    return failing, steer


def test_unreadable_metrics_keep_the_size_naming_the_url_with_one_warning(
    app: KubeDirectorApp,
) -> None:
    sim, steer = _failing_sim(app)
    _tick(sim, 3)
    assert _workers(sim) == 3
    asked = len(steer.requests)
    error = "GET http://127.0.0.1:9/api/v1/query?query=up: connection refused"
    sim.metric_errors = {"worker": error}
    for _ in range(3):
        _tick(sim, 5)
    assert _workers(sim) == 3
    assert len(steer.requests) == asked  # no metrics: the policy is not asked
    condition = next(c for c in sim.cluster["status"]["conditions"] if c["type"] == "Autoscaling")
    assert (condition["status"], condition["reason"]) == ("False", "MetricsUnavailable")
    assert "http://127.0.0.1:9" in condition["message"]
    assert "keeping 3 members" in condition["message"]
    warnings = [e for p in sim.plans for e in p.events if e.reason == "AutoscaleMetricsUnavailable"]
    assert len(warnings) == 1
    assert "connection refused" in warnings[0].message
    # Once the source answers again, autoscaling resumes and the condition clears.
    sim.metric_errors = {}
    _tick(sim, 5)
    assert _workers(sim) == 5
    condition = next(c for c in sim.cluster["status"]["conditions"] if c["type"] == "Autoscaling")
    assert condition["status"] == "True"


def test_roles_due_are_the_roles_the_planner_evaluates(app: KubeDirectorApp) -> None:
    sim, steer = _sim(app)
    cluster = KubeDirectorCluster.from_wire(sim.cluster)
    assert roles_due(cluster, app, sim.now) == ("worker",)  # never evaluated
    _tick(sim, 3, seconds=0)
    cluster = KubeDirectorCluster.from_wire(sim.cluster)
    evaluated = _record(sim)["lastEvaluatedAt"]
    assert roles_due(cluster, app, sim.now) == ()
    asked = len(steer.requests)
    sim.converge()
    assert len(steer.requests) == asked  # not due: not evaluated either
    later = sim.now + timedelta(seconds=30)
    assert roles_due(cluster, app, later) == ("worker",)
    assert evaluated == _record(sim)["lastEvaluatedAt"]


def test_listed_members_gives_every_role_with_hostnames(app: KubeDirectorApp) -> None:
    sim, _ = _sim(app)
    _tick(sim, 3)
    cluster = KubeDirectorCluster.from_wire(sim.cluster)
    members = listed_members(cluster, sim.pods)
    workers = [m for m in members if m.role == "worker"]
    assert len(workers) == 3
    assert {m.role for m in members} == {r.id for r in cluster.spec.roles}
    assert all(m.hostname.startswith(m.name + ".") for m in members)
    assert [m.ordinal for m in workers] == [0, 1, 2]


def test_status_shows_the_last_decision_with_its_metrics(app: KubeDirectorApp) -> None:
    sim, _ = _sim(app)
    _tick(sim, 4)
    text = describe(sim.cluster, {})
    line = next(line for line in text.splitlines() if line.strip().startswith("role worker"))
    assert "2 -> 4" in line
    assert "by steer" in line
    assert "load=4" in line
    assert "recommended 4" in line


def test_kubedirector_validate_names_the_autoscale_field(
    app: KubeDirectorApp, tmp_path: Path
) -> None:
    document = cluster_wire()
    document["spec"]["roles"][0]["autoscale"] = {"minMembers": 1, "maxMembers": 3}
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(app.to_wire()))
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(
        validate, [str(tmp_path / "cluster.yaml"), "--app", str(tmp_path / "app.yaml")]
    )
    assert result.exit_code == 1, result.output
    assert "spec.roles[0].autoscale: role 'master' cannot be autoscaled" in result.output
