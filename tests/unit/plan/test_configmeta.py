"""configmeta.json as the original writes it, for each member."""

from __future__ import annotations

import json
from typing import Any

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plan import ActionKind, Observed, plan_cluster

from .conftest import cluster_wire
from .simulate import START, Sim

TOP_KEYS = {"version", "services", "nodegroups", "distros", "cluster", "node", "connections"}
ROLE_KEYS = {"services", "node_ids", "hostnames", "fqdns", "fqdn_mappings", "flavor"}
SERVICE_KEYS = {
    "qualifiers",
    "name",
    "id",
    "hostnames",
    "global_id",
    "fqdns",
    "exported_service",
    "endpoints",
    "authToken",
}
NODE_KEYS = {
    "role_id",
    "nodegroup_id",
    "id",
    "hostname",
    "fqdn",
    "domain",
    "distro_id",
    "depends_on",
}


def _configmeta(stdin: str) -> dict[str, Any]:
    header = "kd_file 0644 '/etc/guestconfig/configmeta.json' <<'"
    start = stdin.index(header) + len(header)
    delimiter = stdin[start : stdin.index("'", start)]
    body = stdin[stdin.index("\n", start) + 1 : stdin.index(f"\n{delimiter}\n", start)]
    document: dict[str, Any] = json.loads(body)
    return document


def test_each_member_gets_the_original_schema(sim: Sim) -> None:
    sim.step()
    plan = sim.plan()
    documents = {
        a.member: _configmeta(a.stdin or "") for a in plan.actions if a.kind is ActionKind.CONFIGURE
    }
    assert len(documents) == 5
    master = next(pod for pod in documents if "-master-" in pod)
    meta = documents[master]
    assert set(meta) == TOP_KEYS
    assert meta["version"] == "7"
    domain = f"{sim.cluster['status']['clusterService']}.ns.svc.cluster.local"
    assert meta["node"] == {
        "role_id": "master",
        "nodegroup_id": "1",
        "id": "1",
        "hostname": f"{master}.{domain}",
        "fqdn": f"{master}.{domain}",
        "domain": domain,
        "distro_id": "example/demo",
        "depends_on": {},
    }
    assert set(meta["node"]) == NODE_KEYS
    group = meta["nodegroups"]["1"]
    assert group["distro_id"] == "example/demo"
    assert group["catalog_entry_version"] == "1.0"
    assert group["config_metadata"] == {"tier": "test"}
    assert set(group["roles"]) == {"master", "worker", "edge"}
    workers = group["roles"]["worker"]
    assert set(workers) == ROLE_KEYS
    assert workers["node_ids"] == ["2", "3", "4"]
    assert workers["fqdns"] == workers["hostnames"]
    assert workers["fqdn_mappings"] == dict(zip(workers["fqdns"], workers["node_ids"], strict=True))
    assert workers["flavor"] == {
        "storage": "n/a",
        "name": "n/a",
        "memory": "4096",
        "description": "n/a",
        "cores": "2",
    }
    web = group["roles"]["master"]["services"]["web"]
    assert set(web) == SERVICE_KEYS
    assert web["endpoints"] == [f"http://{master}.{domain}:8080"]
    assert web["global_id"] == "1_master_web"
    assert web["fqdns"] == {"bdvlibrefkey": ["nodegroups", "1", "roles", "master", "fqdns"]}
    assert group["roles"]["worker"]["services"]["agent"]["endpoints"] is None
    assert meta["services"]["rpc"] == {
        "1": {
            "master": {"bdvlibrefkey": ["nodegroups", "1", "roles", "master", "services", "rpc"]},
            "worker": {"bdvlibrefkey": ["nodegroups", "1", "roles", "worker", "services", "rpc"]},
        }
    }
    assert meta["distros"] == {"example/demo": {"1": {"bdvlibrefkey": ["nodegroups", "1"]}}}
    assert meta["cluster"]["name"] == "demo1"
    assert meta["cluster"]["id"] == "uid-demo1"
    assert meta["connections"] == {"clusters": {}, "configmaps": {}, "secrets": {}}
    others = [doc for pod, doc in documents.items() if pod != master]
    assert all(
        {k: v for k, v in doc.items() if k != "node"}
        == {k: v for k, v in meta.items() if k != "node"}
        for doc in others
    )


def test_connected_clusters_appear_and_a_change_sends_reconnect(
    sim: Sim, app: KubeDirectorApp
) -> None:
    other_doc = cluster_wire()
    other_doc["metadata"].update({"name": "other", "uid": "uid-other"})
    other = Sim(app=app, cluster=other_doc, hooks=sim.hooks)
    other.converge()
    sim.cluster["spec"]["connections"] = {"clusters": ["other"]}
    connected = {"other": KubeDirectorCluster.from_wire(other.cluster)}

    def observed() -> Observed:
        base = sim.observed()
        return Observed(
            cluster=base.cluster,
            app=base.app,
            now=START,
            pods=base.pods,
            connected_clusters=connected,
            connected_apps={"other": app},
        )

    for _ in range(6):
        plan = plan_cluster(observed(), sim.hooks)
        sim.cluster["status"] = dict(plan.status)
        sim._apply(plan)
        for action in plan.actions:
            from kubedirector_core.plan import ActionOutcome, record_outcome

            sim.cluster["status"] = record_outcome(
                sim.cluster["status"], ActionOutcome(action, 0, ""), START
            )
    configure = plan_cluster(observed(), sim.hooks)
    assert configure.actions == ()
    members = [m for r in sim.cluster["status"]["roles"] for m in r["members"]]
    assert all(m["state"] == "configured" for m in members)
    other.resize("worker", 4)
    other.converge()
    connected["other"] = KubeDirectorCluster.from_wire(other.cluster)
    plan = plan_cluster(observed(), sim.hooks)
    assert {a.kind for a in plan.actions} == {ActionKind.RECONNECT}
    assert len(plan.actions) == 5
    meta = _configmeta(plan.actions[0].stdin or "")
    linked = meta["connections"]["clusters"]["other"]
    assert linked["node"] is None
    assert linked["nodegroups"]["1"]["roles"]["worker"]["node_ids"] == ["2", "3", "4", "6"]
    assert linked["distros"] == {
        "example/demo": {
            "1": {"bdvlibrefkey": ["connections", "clusters", "other", "nodegroups", "1"]}
        }
    }
    assert plan.actions[0].command[6:] == ("--reconnect",)


def test_a_missing_connected_cluster_is_degraded_not_fatal(sim: Sim) -> None:
    sim.cluster["spec"]["connections"] = {"clusters": ["ghost"]}
    plan = sim.converge()
    degraded = next(c for c in plan.status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "ConnectionMissing"
    assert "ghost" in degraded["message"]
    assert plan.status["membersReady"] == "5/5"
