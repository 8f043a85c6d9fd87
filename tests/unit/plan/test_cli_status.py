"""``kubedirector status``: members with nodes and states, last node-down and autoscale."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from kubedirector_core.cli import main
from kubedirector_core.cli import status as status_cli

CLUSTER: dict[str, Any] = {
    "metadata": {"name": "rec", "namespace": "team"},
    "spec": {"app": "recorder"},
    "status": {
        "state": "configured",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Autoscaling", "status": "True"},
        ],
        "roles": [
            {
                "id": "worker",
                "members": [
                    {"pod": "kdss-abc-0", "nodeID": 1, "state": "configured"},
                    {"pod": "kdss-abc-1", "nodeID": 2, "state": "creating"},
                ],
            }
        ],
        "nodeDown": [
            {
                "member": "kdss-abc-1",
                "role": "worker",
                "node": "kwok-node-2",
                "problem": "gone",
                "decision": "replace-member",
                "plugin": "core",
                "reason": "node kwok-node-2 was deleted",
                "phase": "recovering",
                "detectedAt": "2026-11-22T06:00:00Z",
                "decidedAt": "2026-11-22T06:00:01Z",
            }
        ],
        "autoscale": [
            {
                "role": "worker",
                "desiredMembers": 2,
                "lastDecision": {
                    "at": "2026-11-22T05:59:00Z",
                    "currentMembers": 3,
                    "desiredMembers": 2,
                    "plugin": "example",
                    "reason": "utilization 0.2 below target",
                },
            }
        ],
    },
}
NODES: dict[str, str | None] = {"kdss-abc-0": "kwok-node-0", "kdss-abc-1": None}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    asked: list[tuple[str, str]] = []

    def fetch(name: str, namespace: str, *_: object) -> tuple[dict[str, Any], dict[str, Any]]:
        asked.append((name, namespace))
        return CLUSTER, NODES

    monkeypatch.setattr(status_cli, "fetch", fetch)
    return asked


def test_status_lists_members_with_nodes_and_the_last_decisions(
    served: list[tuple[str, str]],
) -> None:
    result = CliRunner().invoke(main, ["status", "rec", "-n", "team"])
    assert result.exit_code == 0, result.output
    assert served == [("rec", "team")]
    lines = result.output.splitlines()
    assert "state configured" in lines[0]
    assert "Ready=True" in lines[0]
    assert lines[2].split() == ["ROLE", "NODEID", "POD", "NODE", "STATE"]
    assert lines[3].split() == ["worker", "1", "kdss-abc-0", "kwok-node-0", "configured"]
    assert lines[4].split() == ["worker", "2", "kdss-abc-1", "-", "creating"]
    [node_down] = [line for line in lines if "kdss-abc-1 (role worker)" in line]
    assert "on node kwok-node-2: gone; replace-member by core" in node_down
    assert "node kwok-node-2 was deleted" in node_down
    assert "phase recovering" in node_down
    [autoscale] = [line for line in lines if line.startswith("  role worker")]
    assert "3 -> 2 by example (utilization 0.2 below target)" in autoscale


def test_status_as_json_and_a_cluster_without_decisions(served: list[tuple[str, str]]) -> None:
    result = CliRunner().invoke(main, ["status", "rec", "-o", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert served == [("rec", "default")]
    assert [m["node"] for m in data["members"]] == ["kwok-node-0", None]
    assert data["nodeDown"][0]["decision"] == "replace-member"
    assert data["autoscale"][0]["lastDecision"]["plugin"] == "example"

    bare = {"metadata": {"name": "new"}, "spec": {"app": "recorder"}}
    text = status_cli.describe(bare, {})
    assert "state unknown" in text
    assert "no members" in text
    assert text.count("  none") == 2


def test_a_blocked_replacement_says_what_the_person_must_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocked = {
        "member": "kdss-abc-1",
        "role": "worker",
        "node": "kwok-node-2",
        "problem": "unknown",
        "decision": "replace-member",
        "plugin": "core",
        "reason": "node kwok-node-2 NotReady for 300s",
        "phase": "deleting",
        "waitingFor": "the node to be confirmed gone: delete the Node kwok-node-2",
    }
    forced = {**blocked, "member": "kdss-abc-0", "force": True, "waitingFor": None}
    cluster = {**CLUSTER, "status": {**CLUSTER["status"], "nodeDown": [blocked, forced]}}
    monkeypatch.setattr(status_cli, "fetch", lambda *_: (cluster, NODES))

    lines = CliRunner().invoke(main, ["status", "rec"]).output.splitlines()

    at = next(i for i, line in enumerate(lines) if "kdss-abc-1 (role worker)" in line)
    assert "replace-member by core" in lines[at]
    assert (
        lines[at + 1]
        == "    waiting for: the node to be confirmed gone: delete the Node kwok-node-2"
    )
    [done] = [line for line in lines if "kdss-abc-0 (role worker)" in line]
    assert "replace-member (forced) by core" in done
