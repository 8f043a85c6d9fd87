"""Rendered objects: what the operator creates, as the original creates it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from kubedirector_core import hookimpl
from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.plan import render_objects
from kubedirector_core.plan.names import CLUSTER_LABEL, ROLE_LABEL
from kubedirector_core.plan.render import persist_dirs
from kubedirector_core.plugins import Hooks

from .conftest import app_wire, cluster_wire, isolated_hooks

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def _by_role(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {sts["metadata"]["labels"][ROLE_LABEL]: sts for sts in _of(objects, "StatefulSet")}


def _pod(sts: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = sts["spec"]["template"]["spec"]
    return pod


def _env(sts: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in _pod(sts)["containers"][0]["env"]}


def test_every_corpus_cluster_renders_like_the_original(
    corpus_pairs: list[tuple[str, KubeDirectorApp, KubeDirectorCluster]], hooks: Hooks
) -> None:
    for name, app, cluster in corpus_pairs:
        objects = render_objects(app, cluster, hooks)
        [headless] = [s for s in _of(objects, "Service") if s["spec"].get("clusterIP") == "None"]
        statefulsets = _by_role(objects)
        assert set(statefulsets) == {role.id for role in cluster.spec.roles}, name
        for role in cluster.spec.roles:
            sts = statefulsets[role.id]
            app_role = app.resolved_role(role.id)
            assert app_role is not None
            expected = app_role.min_members if role.members is None else role.members
            assert sts["spec"]["replicas"] == expected, name
            assert sts["spec"]["podManagementPolicy"] == "Parallel"
            assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
            labels = sts["spec"]["template"]["metadata"]["labels"]
            assert labels[CLUSTER_LABEL] == cluster.name
            assert labels[ROLE_LABEL] == role.id
            if role.storage is not None:
                [template] = sts["spec"]["volumeClaimTemplates"]
                assert template["spec"]["resources"]["requests"]["storage"] == role.storage.size
                [init] = _pod(sts)["initContainers"]
                assert "'etc'" in init["command"][-1]
                mounts = {m["mountPath"] for m in _pod(sts)["containers"][0]["volumeMounts"]}
                assert set(persist_dirs(app_role)) <= mounts
            else:
                assert "volumeClaimTemplates" not in sts["spec"]
                assert "initContainers" not in _pod(sts)
        for obj in objects:
            assert obj["metadata"]["labels"][CLUSTER_LABEL] == cluster.name
            assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubedirector"


def test_rendering_is_byte_stable(
    corpus_pairs: list[tuple[str, KubeDirectorApp, KubeDirectorCluster]], hooks: Hooks
) -> None:
    for _name, app, cluster in corpus_pairs:
        first = yaml.safe_dump_all(render_objects(app, cluster, hooks), sort_keys=False)
        again = yaml.safe_dump_all(render_objects(app, cluster, hooks), sort_keys=False)
        assert first == again


def test_member_services_of_the_cluster_service_type_for_roles_with_ports(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, hooks: Hooks
) -> None:
    objects = render_objects(app, cluster, hooks)
    members = [s for s in _of(objects, "Service") if s["spec"].get("clusterIP") != "None"]
    # master has web+rpc, worker has rpc (agent has no endpoint), edge has no port at all.
    assert len(members) == 1 + 3
    master = next(s for s in members if "master" in s["metadata"]["name"])
    assert master["spec"]["type"] == "ClusterIP"
    assert [p["name"] for p in master["spec"]["ports"]] == ["http-web", "generic-rpc"]
    pod = master["metadata"]["name"]
    assert master["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": pod}
    assert master["metadata"]["labels"][ROLE_LABEL] == "master"


def test_every_child_is_owned_by_the_cluster(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, hooks: Hooks
) -> None:
    for obj in render_objects(app, cluster, hooks):
        [owner] = obj["metadata"]["ownerReferences"]
        assert owner["uid"] == "uid-demo1"
        assert owner["controller"] is True
        assert owner["kind"] == "KubeDirectorCluster"
        assert obj["metadata"]["namespace"] == "ns"


@pytest.mark.parametrize("scheme", ["CrNameRole", "UID"])
def test_names_and_labels_fit_with_long_names(scheme: str, hooks: Hooks) -> None:
    role_id = "w" * 63
    app_doc = app_wire()
    app_doc["spec"]["roles"][1]["id"] = role_id
    app_doc["spec"]["config"]["roleServices"][1]["roleID"] = role_id
    app_doc["spec"]["config"]["selectedRoles"][1] = role_id
    cluster_doc = cluster_wire()
    cluster_doc["metadata"]["name"] = "c" * 200 + ".x"
    cluster_doc["spec"]["namingScheme"] = scheme
    cluster_doc["spec"]["roles"][1]["id"] = role_id
    cluster_doc["spec"]["roles"][1]["members"] = 990
    app = KubeDirectorApp.from_wire(app_doc)
    cluster = KubeDirectorCluster.from_wire(cluster_doc)
    objects = render_objects(app, cluster, hooks)
    assert len(_of(objects, "StatefulSet")) == 3
    for obj in objects:
        name = obj["metadata"]["name"]
        assert DNS_LABEL.match(name), name
        assert len(name) <= 63, name
        for value in obj["metadata"]["labels"].values():
            assert LABEL_VALUE.match(value), value
            assert len(value) <= 63, value
        if obj["kind"] == "StatefulSet":
            # pods are <name>-<ordinal>; the revision hash label is <name>-<10 chars>
            assert len(name) + 1 + 10 <= 63
            assert len(f"p-{name}-989") <= 63
    if scheme == "UID":
        assert all(
            sts["metadata"]["name"].startswith("kdss-") for sts in _of(objects, "StatefulSet")
        )
        services = [s["metadata"]["name"] for s in _of(objects, "Service")]
        assert sum(name.startswith("kdhs-") for name in services) == 1
        assert all(name.startswith(("kdhs-", "s-")) for name in services)


def test_gpu_roles_see_gpus_and_others_do_not(hooks: Hooks) -> None:
    cluster_doc = cluster_wire()
    cluster_doc["spec"]["roles"][1]["resources"] = {
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 2}
    }
    app = KubeDirectorApp.from_wire(app_wire())
    objects = render_objects(app, KubeDirectorCluster.from_wire(cluster_doc), hooks)
    statefulsets = _by_role(objects)
    assert "NVIDIA_VISIBLE_DEVICES" not in _env(statefulsets["worker"])
    assert _env(statefulsets["master"])["NVIDIA_VISIBLE_DEVICES"] == "void"
    limits = _pod(statefulsets["worker"])["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 2


def test_role_settings_reach_the_pods(hooks: Hooks) -> None:
    cluster_doc = cluster_wire()
    worker = cluster_doc["spec"]["roles"][1]
    worker.update(
        {
            "storage": {"size": "10Gi", "storageClassName": "fast"},
            "env": [{"name": "MODE", "value": "batch"}],
            "secret": {"name": "creds", "mountPath": "/etc/creds", "defaultMode": 256},
            "sharedMemory": "2Gi",
            "podLabels": {"team": "search"},
            "podAnnotations": {"note": "hi"},
            "serviceLabels": {"svc": "yes"},
            "affinity": {"nodeAffinity": {"x": 1}},
            "serviceAccountName": "runner",
        }
    )
    app = KubeDirectorApp.from_wire(app_wire())
    objects = render_objects(app, KubeDirectorCluster.from_wire(cluster_doc), hooks)
    sts = _by_role(objects)["worker"]
    pod = _pod(sts)
    container = pod["containers"][0]
    assert _env(sts)["MODE"] == "batch"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["secret-vol-creds"] == {
        "name": "secret-vol-creds",
        "secret": {"defaultMode": 256, "secretName": "creds"},
    }
    assert volumes["shmem"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/dev/shm"]["name"] == "shmem"
    assert mounts["/etc"] == {"mountPath": "/etc", "name": "p", "subPath": "etc"}
    assert "/etc/demo" not in mounts  # inside /etc, which is on the volume already
    assert mounts["/data"]["subPath"] == "data"
    assert sts["spec"]["template"]["metadata"]["labels"]["team"] == "search"
    assert "team" not in sts["spec"]["selector"]["matchLabels"]
    assert sts["spec"]["template"]["metadata"]["annotations"]["note"] == "hi"
    assert pod["affinity"] == {"nodeAffinity": {"x": 1}}
    assert pod["serviceAccountName"] == "runner"
    assert pod["automountServiceAccountToken"] is True
    [template] = sts["spec"]["volumeClaimTemplates"]
    assert template["spec"]["storageClassName"] == "fast"
    services = [s for s in _of(objects, "Service") if "worker" in s["metadata"]["name"]]
    assert services
    assert all(s["metadata"]["labels"]["svc"] == "yes" for s in services)
    assert "creds" not in yaml.safe_dump(objects).replace("secretName: creds", "").replace(
        "secret-vol-creds", ""
    ).replace("/etc/creds", "")


def test_persist_dirs_follow_the_setup_layout(app: KubeDirectorApp) -> None:
    worker = app.resolved_role("worker")
    assert worker is not None
    assert persist_dirs(worker) == ["/etc", "/opt", "/usr", "/data"]
    no_package = worker.model_copy(update={"config_package": None})
    assert persist_dirs(no_package) == ["/etc", "/data"]


def test_pre_create_patches_each_role(app: KubeDirectorApp, cluster: KubeDirectorCluster) -> None:
    class Tolerations:
        @staticmethod
        @hookimpl
        def kd_claims() -> tuple[str, ...]:
            return ("example/*",)

        @staticmethod
        @hookimpl
        def kd_pre_create(role: Any, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for manifest in objects:
                if manifest["kind"] == "StatefulSet" and role.id == "worker":
                    manifest["spec"]["template"]["spec"]["tolerations"] = [{"key": "gpu"}]
            return objects

    objects = render_objects(app, cluster, isolated_hooks(("tolerations", Tolerations)))
    statefulsets = _by_role(objects)
    assert _pod(statefulsets["worker"])["tolerations"] == [{"key": "gpu"}]
    assert "tolerations" not in _pod(statefulsets["master"])


def test_an_invalid_cluster_renders_nothing(app: KubeDirectorApp, hooks: Hooks) -> None:
    cluster_doc = cluster_wire()
    cluster_doc["spec"]["roles"].append(
        {"id": "nope", "members": 1, "resources": cluster_doc["spec"]["roles"][0]["resources"]}
    )
    assert render_objects(app, KubeDirectorCluster.from_wire(cluster_doc), hooks) == []


def test_plugin_authors_render_through_the_testing_fixture(
    kd_render: Any, kd_register_plugin: Any, app: KubeDirectorApp, cluster: KubeDirectorCluster
) -> None:
    def kd_pre_create(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for manifest in objects:
            manifest["metadata"]["labels"]["team"] = "search"
        return objects

    kd_register_plugin(kd_pre_create)
    statefulsets = _of(kd_render(app, cluster), "StatefulSet")
    assert len(statefulsets) == 3
    assert all(obj["metadata"]["labels"]["team"] == "search" for obj in statefulsets)
