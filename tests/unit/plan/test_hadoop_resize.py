"""kd-hadoop's decommission-before-shrink, carried out by the planner end to end.

kd-hadoop answers ``WAIT`` with its decommission action on every call and
relies on the core to treat a ``WAIT`` whose actions are done as ``PROCEED``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.plan import ActionKind

from .conftest import isolated_hooks
from .simulate import Sim

kd_hadoop_plugin = pytest.importorskip("kd_hadoop.plugin")
kd_hadoop_package = pytest.importorskip("kd_hadoop.package")


def _document(name: str) -> dict[str, Any]:
    path = Path(kd_hadoop_package.catalog_path()) / name
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def _datanodes(sim: Sim) -> list[str]:
    [role] = [r for r in sim.cluster["status"]["roles"] if r["id"] == "datanode"]
    return [m["pod"] for m in role["members"]]


def test_hadoop_datanode_shrink_decommissions_once_then_removes_the_member() -> None:
    app = KubeDirectorApp.from_wire(_document("hadoop3.yaml"))
    cluster = copy.deepcopy(_document("hadoop3-example-cluster.yaml"))
    cluster["metadata"].update(namespace="ns", uid="uid-h", generation=1)
    sim = Sim(app=app, cluster=cluster, hooks=isolated_hooks(("hadoop", kd_hadoop_plugin)))
    sim.converge()
    # Each DataNode joined once its readiness check (in the NameNode) passed: run once each.
    checks = sim.calls_of(ActionKind.PLUGIN)
    assert len(checks) == len(_datanodes(sim))
    assert all("is-registered" in " ".join(c.arguments) for c in checks)
    for pod in _datanodes(sim):
        assert sum(f"'{pod}." in " ".join(c.arguments) for c in checks) == 1, pod
    leaving = _datanodes(sim)[2]
    sim.resize("datanode", 2)
    sim.converge()
    assert len(_datanodes(sim)) == 2
    decommissions = sim.calls_of(ActionKind.PLUGIN)[len(checks) :]
    assert len(decommissions) == 1
    assert "decommission" in decommissions[0].key
    assert f"{leaving}." in " ".join(decommissions[0].arguments)
    assert "doneActions" not in sim.cluster["status"]
