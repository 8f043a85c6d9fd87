"""Connected ConfigMaps and Secrets in configmeta's ``connections``, as the original fills it."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from kubedirector_core.plan import ActionKind, ConnectedObject, MemberAction
from kubedirector_core.plan.configmeta import configmap_connections, secret_connections

from .simulate import Sim

CM_TYPE = "kubedirector.hpe.com/cmType"
SECRET_TYPE = "kubedirector.hpe.com/secretType"
TOKEN = "s3cr3t-t0ken"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _configmap(
    name: str, version: str, data: dict[str, str] | None, **labels: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": version, "labels": labels},
    }
    if data is not None:
        body["data"] = data
    return body


def _source_control(version: str = "1", branch: str = "main") -> dict[str, Any]:
    body = _configmap(
        "git-repo",
        version,
        {"repositoryURL": "https://git.example.com/team/repo.git", "branch": branch},
        **{CM_TYPE: "source-control"},
    )
    body["metadata"]["annotations"] = {"owner": "team-a"}
    return body


def _secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "git-token",
            "namespace": "ns",
            "resourceVersion": "7",
            "labels": {SECRET_TYPE: "source-control"},
        },
        "data": {"token": _b64(TOKEN)},
    }


def _connected_sim(sim: Sim) -> Sim:
    sim.configmaps["git-repo"] = _source_control()
    sim.configmaps["plain"] = _configmap("plain", "2", {"k": "v"})
    sim.configmaps["spark-defaults"] = _configmap(
        "spark-defaults", "3", None, **{CM_TYPE: "spark", "team": "a"}
    )
    sim.secrets["git-token"] = _secret()
    sim.cluster["spec"]["connections"] = {
        "configmaps": ["git-repo", "plain", "spark-defaults"],
        "secrets": ["git-token"],
    }
    return sim


def _configmeta_file(action: MemberAction) -> tuple[str, dict[str, Any]]:
    """The mode and document of the configmeta.json an action writes."""
    stdin = action.stdin or ""
    found = re.search(r"kd_file (\d+) '/etc/guestconfig/configmeta.json' <<'([^']+)'\n", stdin)
    assert found is not None, "the action writes no configmeta.json"
    end = stdin.index(f"\n{found.group(2)}\n", found.end())
    return found.group(1), json.loads(stdin[found.end() : end])


def test_members_get_connected_configmaps_by_cm_type_and_secrets_base64(sim: Sim) -> None:
    _connected_sim(sim)
    sim.step()
    plan = sim.plan()
    configure = [a for a in plan.actions if a.kind is ActionKind.CONFIGURE]
    assert len(configure) == 5
    mode, meta = _configmeta_file(configure[0])
    assert meta["connections"]["configmaps"] == {
        "source-control": [
            {
                "metadata": {"name": "git-repo"},
                "data": {
                    "repositoryURL": "https://git.example.com/team/repo.git",
                    "branch": "main",
                },
                "labels": {CM_TYPE: "source-control"},
                "annotations": {"owner": "team-a"},
            }
        ],
        "spark": [
            {
                "metadata": {"name": "spark-defaults"},
                "data": None,
                "labels": {CM_TYPE: "spark", "team": "a"},
                "annotations": None,
            }
        ],
    }
    # The original marshals a Secret's name, data, labels and annotations as []byte: base64.
    assert meta["connections"]["secrets"] == {
        "source-control": [
            {
                "metadata": {"name": _b64("git-token")},
                "data": {"token": _b64(TOKEN)},
                "labels": {SECRET_TYPE: _b64("source-control")},
                "annotations": {},
            }
        ]
    }
    assert meta["connections"]["clusters"] == {}
    # Secret data inside: readable only by the user setup runs as.
    assert mode == "0600"
    assert "plain" not in json.dumps(meta["connections"])


def test_without_connected_secrets_configmeta_stays_world_readable(sim: Sim) -> None:
    _connected_sim(sim)
    sim.cluster["spec"]["connections"].pop("secrets")
    sim.step()
    plan = sim.plan()
    mode, meta = _configmeta_file(plan.actions[0])
    assert mode == "0644"
    assert meta["connections"]["secrets"] == {}
    assert list(meta["connections"]["configmaps"]) == ["source-control", "spark"]
    assert sim.secret_reads == 0


def test_a_changed_configmap_rewrites_configmeta_and_sends_reconnect(sim: Sim) -> None:
    _connected_sim(sim)
    sim.converge()
    reads = sim.secret_reads
    assert sim.converge().actions == ()
    assert sim.secret_reads == reads, "a converged cluster reads no Secret"

    sim.configmaps["git-repo"] = _source_control(version="9", branch="release")
    plan = sim.step()
    reconnect = [a for a in plan.actions if a.kind is ActionKind.RECONNECT]
    assert len(reconnect) == 5
    assert all(a.command[-1] == "--reconnect" for a in reconnect)
    _, meta = _configmeta_file(reconnect[0])
    [entry] = meta["connections"]["configmaps"]["source-control"]
    assert entry["data"]["branch"] == "release"
    assert meta["connections"]["secrets"]["source-control"][0]["data"] == {"token": _b64(TOKEN)}
    assert sim.converge().actions == ()
    assert len(sim.calls_of(ActionKind.RECONNECT)) == 5


def test_no_secret_value_in_status_events_or_reprs(sim: Sim) -> None:
    _connected_sim(sim)
    sim.converge()
    sim.secrets["git-token"]["metadata"]["resourceVersion"] = "8"
    sim.step()
    sim.converge()
    texts = [json.dumps(sim.cluster["status"])]
    texts += [event.message for plan in sim.plans for event in plan.events]
    texts += [repr(sim.observed(with_secrets=True)), repr(sim.plans[-1].status)]
    assert sim.calls_of(ActionKind.RECONNECT), "the Secret's change was not told"
    for text in texts:
        assert TOKEN not in text
        assert _b64(TOKEN) not in text


def test_a_missing_connected_configmap_or_secret_is_degraded_not_fatal(sim: Sim) -> None:
    sim.cluster["spec"]["connections"] = {"configmaps": ["gone-cm"], "secrets": ["gone-secret"]}
    plan = sim.converge()
    degraded = next(c for c in plan.status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "ConnectionMissing"
    assert "ConfigMap/gone-cm" in degraded["message"]
    assert "Secret/gone-secret" in degraded["message"]
    assert plan.status["membersReady"] == "5/5"
    assert sim.secret_reads == 0, "nothing to read when no connected Secret exists"


def test_only_labelled_objects_appear_in_connection_order() -> None:
    first = ConnectedObject("b", {CM_TYPE: "t"}, None, {"x": "value-1"})
    second = ConnectedObject("a", {CM_TYPE: "t"}, {"note": "n"}, {})
    unlabelled = ConnectedObject("c", {"app": "x"}, None, {"y": "2"})
    assert configmap_connections([first, second, unlabelled]) == {
        "t": [
            {
                "metadata": {"name": "b"},
                "data": {"x": "value-1"},
                "labels": {CM_TYPE: "t"},
                "annotations": None,
            },
            {
                "metadata": {"name": "a"},
                "data": {},
                "labels": {CM_TYPE: "t"},
                "annotations": {"note": "n"},
            },
        ]
    }
    empty = ConnectedObject("s", {SECRET_TYPE: "db"}, {"k": "v"}, None)
    assert secret_connections([empty, unlabelled]) == {
        "db": [
            {
                "metadata": {"name": _b64("s")},
                "data": None,
                "labels": {SECRET_TYPE: _b64("db")},
                "annotations": {"k": _b64("v")},
            }
        ]
    }
    assert "value-1" not in repr(first)
