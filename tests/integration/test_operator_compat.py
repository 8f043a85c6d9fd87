"""KubeDirector's own cassandra and spark245 apps and clusters, applied unchanged, reach Ready.

The files are read from ``../shared/compat/kubedirector/``. Their setup
packages are ``file:///opt/configscripts/...`` URLs: files of the app's image.
Under KWOK a pod's root starts empty, so :class:`GuestFiles` puts a recording
setup package at that path in each member's own root, as the image would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    GuestFiles,
    OperatorProcess,
    make_setup_package,
    members,
    recorded_calls,
    wait_ready,
)

pytestmark = pytest.mark.controlplane

COMPAT = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "kubedirector"

CASES = {
    "cassandra": ("cr-app-cassandra-3.11.json", "cr-cluster-cassandra311.yaml"),
    "spark245": ("cr-app-spark245.json", "cr-cluster-spark245.yaml"),
}


def load(path: Path) -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(documents) == 1
    document: dict[str, Any] = documents[0]
    return document


def children(control_plane: ControlPlane, namespace: str, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        control_plane.kubectl(
            "get", kind, "-n", namespace, "-l", "kubedirector.hpe.com/kdcluster", "-o", "json"
        ).stdout
    )["items"]
    return items


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_kubedirector_app_and_cluster_reach_ready_with_the_expected_objects(
    case: str,
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    if not COMPAT.is_dir():
        pytest.skip(f"the KubeDirector compatibility corpus is not at {COMPAT}")
    app_file, cluster_file = CASES[case]
    app, cluster = load(COMPAT / "apps" / app_file), load(COMPAT / "clusters" / cluster_file)
    package_path = app["spec"]["defaultConfigPackage"]["packageURL"].removeprefix("file://")
    package = make_setup_package(tmp_path / "appconfig.tgz")
    with GuestFiles(
        control_plane.pods_dir / namespace, {package_path: Path(package[7:]).read_bytes()}
    ):
        for path in (COMPAT / "apps" / app_file, COMPAT / "clusters" / cluster_file):
            control_plane.kubectl("apply", "-n", namespace, "-f", str(path))
        stored = wait_ready(control_plane, namespace, cluster["metadata"]["name"], timeout=180)

    wanted = {role["id"]: role.get("members", 1) for role in cluster["spec"]["roles"]}
    wanted = {role: count for role, count in wanted.items() if count}
    found = members(stored)
    assert len(found) == sum(wanted.values())
    assert stored["status"]["membersReady"] == f"{len(found)}/{len(found)}"

    statefulsets = children(control_plane, namespace, "statefulsets")
    replicas = {
        s["metadata"]["labels"]["kubedirector.hpe.com/role"]: s["spec"]["replicas"]
        for s in statefulsets
    }
    assert {role: count for role, count in replicas.items() if count} == wanted
    assert all(s["spec"]["podManagementPolicy"] == "Parallel" for s in statefulsets)
    services = children(control_plane, namespace, "services")
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == 1
    per_member = {s["spec"]["selector"].get("statefulset.kubernetes.io/pod-name") for s in services}
    assert {m["pod"] for m in found} <= per_member
    for service in services:
        owners = service["metadata"]["ownerReferences"]
        assert [o["kind"] for o in owners] == ["KubeDirectorCluster"]

    for member in found:
        own = control_plane.pod_dir(namespace, member["pod"])
        configmeta = json.loads((own / "etc/guestconfig/configmeta.json").read_text())
        assert configmeta["cluster"]["name"] == cluster["metadata"]["name"]
        assert configmeta["node"]["hostname"].startswith(member["pod"] + ".")
        assert app["spec"]["distroID"] in configmeta["distros"]
        roles = configmeta["nodegroups"]["1"]["roles"]
        assert {role: len(roles[role]["fqdns"]) for role in roles} == wanted
        assert recorded_calls(own) == ["--configure"]
        assert (
            json.loads((own / "kd-configured-with.json").read_text())["node"] == configmeta["node"]
        )
