"""KubeDirectorConfig (kd-global-config) as the planner applies it."""

from __future__ import annotations

import json
from typing import Any

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.api.config import KubeDirectorConfig
from kubedirector_core.plan import ActionKind, ObjectRef, Observed, plan_cluster
from kubedirector_core.plan.names import CLUSTER_LABEL, HEADLESS_LABEL, ROLE_LABEL
from kubedirector_core.plan.settings import (
    TEMPLATE_ANNOTATION,
    OperatorSettings,
    TemplateSettings,
    domain_base,
)
from kubedirector_core.plugins import Hooks

from .conftest import app_wire, cluster_wire
from .simulate import START, Sim
from .test_configmeta import _configmeta

API = "kubedirector.hpe.com/v1beta1"


def _settings(**spec: Any) -> OperatorSettings:
    config = KubeDirectorConfig.from_wire(
        {
            "apiVersion": API,
            "kind": "KubeDirectorConfig",
            "metadata": {"name": "kd-global-config", "namespace": "kubedirector"},
            "spec": spec,
        }
    )
    return OperatorSettings.from_config(config)


def _objects(
    cluster: dict[str, Any],
    settings: OperatorSettings,
    hooks: Hooks,
    *,
    app: dict[str, Any] | None = None,
    children: dict[ObjectRef, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    observed = Observed(
        cluster=KubeDirectorCluster.from_wire(cluster),
        app=KubeDirectorApp.from_wire(app or app_wire()),
        now=START,
        settings=settings,
        children=children or {},
    )
    return list(plan_cluster(observed, hooks).objects)


def _statefulsets(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    statefulsets = [obj for obj in objects if obj["kind"] == "StatefulSet"]
    return {sts["metadata"]["labels"][ROLE_LABEL]: sts for sts in statefulsets}


def _member_services(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        obj
        for obj in objects
        if obj["kind"] == "Service" and obj["spec"].get("clusterIP") != "None"
    ]


def test_kubedirector_spelling_of_the_domain_base_is_accepted() -> None:
    assert domain_base(".svc.example.org") == "svc.example.org"
    assert domain_base("svc.example.org") == "svc.example.org"
    assert domain_base(None) == "svc.cluster.local"
    assert _settings(clusterSvcDomainBase=".svc.example.org").svc_domain_base == "svc.example.org"
    assert OperatorSettings.from_config(None) == OperatorSettings()


def test_config_pod_labels_and_annotations_reach_every_members_pod(hooks: Hooks) -> None:
    settings = _settings(
        podLabels={"team": "data", CLUSTER_LABEL: "hijacked"},
        podAnnotations={"example.com/audit": "yes"},
    )
    document = cluster_wire()
    document["spec"]["roles"][0]["podLabels"] = {"team": "role-team", "tier": "front"}
    statefulsets = _statefulsets(_objects(document, settings, hooks))
    assert set(statefulsets) == {"master", "worker", "edge"}
    for sts in statefulsets.values():
        template = sts["spec"]["template"]["metadata"]
        assert template["labels"]["team"] == "data"  # the config wins, as in KubeDirector
        assert template["annotations"]["example.com/audit"] == "yes"
        # The labels the StatefulSet selects its pods by cannot be overridden.
        assert template["labels"][CLUSTER_LABEL] == "demo1"
        assert template["labels"][HEADLESS_LABEL] == "demo1"
        assert sts["spec"]["selector"]["matchLabels"][CLUSTER_LABEL] == "demo1"
        recorded = json.loads(sts["metadata"]["annotations"][TEMPLATE_ANNOTATION])
        assert recorded["podLabels"]["team"] == "data"
        # The StatefulSet itself does not carry the pods' labels.
        assert "team" not in sts["metadata"]["labels"]
    assert statefulsets["master"]["spec"]["template"]["metadata"]["labels"]["tier"] == "front"


def test_without_a_config_nothing_is_added_or_recorded(hooks: Hooks) -> None:
    for sts in _statefulsets(_objects(cluster_wire(), OperatorSettings(), hooks)).values():
        assert TEMPLATE_ANNOTATION not in sts["metadata"]["annotations"]
        assert "team" not in sts["spec"]["template"]["metadata"]["labels"]


def test_config_service_labels_and_annotations_reach_member_services(hooks: Hooks) -> None:
    settings = _settings(
        serviceLabels={"exposed": "yes", ROLE_LABEL: "hijacked"},
        serviceAnnotations={"lb.example.com/class": "internal"},
    )
    document = cluster_wire()
    document["spec"]["roles"][0]["serviceLabels"] = {"exposed": "no", "mine": "1"}
    objects = _objects(document, settings, hooks)
    services = _member_services(objects)
    assert len(services) == 4  # the master and the 3 workers expose ports; edge members none
    for service in services:
        labels = service["metadata"]["labels"]
        assert labels["exposed"] == "yes"
        assert labels[ROLE_LABEL] != "hijacked"
        assert service["metadata"]["annotations"]["lb.example.com/class"] == "internal"
    masters = [s for s in services if s["metadata"]["labels"][ROLE_LABEL] == "master"]
    assert [s["metadata"]["labels"]["mine"] for s in masters] == ["1"]
    [headless] = [o for o in objects if o["kind"] == "Service" and o not in services]
    assert "exposed" not in headless["metadata"]["labels"]


def test_members_fqdns_use_the_configured_domain(app: KubeDirectorApp, hooks: Hooks) -> None:
    sim = Sim(app=app, cluster=cluster_wire(), hooks=hooks)
    sim.settings = _settings(clusterSvcDomainBase=".svc.example.org")
    sim.converge()
    domain = f"{sim.cluster['status']['clusterService']}.ns.svc.example.org"
    sim.resize("worker", 4)
    already = len(sim.plans)
    sim.converge()
    documents = [
        _configmeta(action.stdin or "")
        for plan in sim.plans[already:]
        for action in plan.actions
        if action.kind is ActionKind.CONFIGURE
    ]
    [added] = documents
    assert added["node"]["fqdn"] == added["node"]["hostname"]
    assert added["node"]["domain"] == domain
    assert added["node"]["fqdn"].endswith(f".{domain}")
    workers = added["nodegroups"]["1"]["roles"]["worker"]
    assert len(workers["fqdns"]) == 4
    assert all(fqdn.endswith(".ns.svc.example.org") for fqdn in workers["fqdns"])
    notified = sim.calls_of(ActionKind.ADDNODES)
    assert notified
    fqdns = notified[0].arguments[notified[0].arguments.index("--fqdns") + 1]
    assert fqdns.endswith(".ns.svc.example.org")
    assert "cluster.local" not in fqdns


def test_defaults_apply_only_where_the_cluster_names_none(hooks: Hooks) -> None:
    settings = _settings(
        defaultServiceType="LoadBalancer",
        defaultNamingScheme="UID",
        defaultStorageClassName="fast",
    )
    named = cluster_wire()
    named["spec"]["namingScheme"] = "CrNameRole"
    named["spec"]["roles"][1]["storage"] = {"size": "1Gi", "storageClassName": "slow"}
    objects = _objects(named, settings, hooks)
    assert {s["spec"]["type"] for s in _member_services(objects)} == {"ClusterIP"}
    workers = _statefulsets(objects)["worker"]
    assert workers["metadata"]["name"].startswith("demo1-worker-")
    [claim] = workers["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "slow"

    unnamed = cluster_wire()
    del unnamed["spec"]["serviceType"]
    unnamed["spec"]["roles"][1]["storage"] = {"size": "1Gi"}
    objects = _objects(unnamed, settings, hooks)
    assert {s["spec"]["type"] for s in _member_services(objects)} == {"LoadBalancer"}
    workers = _statefulsets(objects)["worker"]
    assert workers["metadata"]["name"].startswith("kdss-")
    assert all(s["metadata"]["name"].startswith("s-kdss-") for s in _member_services(objects))
    [claim] = workers["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast"

    without = _objects(unnamed, OperatorSettings(), hooks)
    assert {s["spec"]["type"] for s in _member_services(without)} == {"NodePort"}
    assert _statefulsets(without)["worker"]["metadata"]["name"].startswith("demo1-worker-")


def test_a_running_cluster_keeps_the_naming_scheme_of_its_objects(
    app: KubeDirectorApp, hooks: Hooks
) -> None:
    document = cluster_wire()
    sim = Sim(app=app, cluster=document, hooks=hooks)
    sim.converge()
    before = sorted(s["metadata"]["name"] for s in _member_services(list(sim.plan().objects)))
    assert "namingScheme" not in sim.cluster["spec"]
    sim.settings = _settings(defaultNamingScheme="UID")
    after = sorted(s["metadata"]["name"] for s in _member_services(list(sim.plan().objects)))
    assert after == before
    assert not any(name.startswith("s-") for name in after)


def test_an_existing_statefulset_keeps_the_template_it_was_created_with(hooks: Hooks) -> None:
    first = _settings(
        podLabels={"team": "data"},
        defaultStorageClassName="fast",
        serviceLabels={"v": "1"},
    )
    document = cluster_wire()
    document["spec"]["roles"][1]["storage"] = {"size": "1Gi"}
    created = _objects(document, first, hooks)
    children = {
        ObjectRef(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], "ns"): obj
        for obj in created
    }
    second = _settings(
        podLabels={"team": "ops"},
        defaultStorageClassName="slow",
        serviceLabels={"v": "2"},
    )
    again = _objects(document, second, hooks, children=children)
    for role, sts in _statefulsets(again).items():
        old = _statefulsets(created)[role]
        # Same pod template (no member restarts), same claim templates (immutable).
        assert sts["spec"]["template"] == old["spec"]["template"]
        assert sts["spec"].get("volumeClaimTemplates") == old["spec"].get("volumeClaimTemplates")
        assert sts["spec"]["template"]["metadata"]["labels"]["team"] == "data"
    # Services take the new labels at once.
    assert {s["metadata"]["labels"]["v"] for s in _member_services(again)} == {"2"}

    # A StatefulSet made before any config keeps a template without the config's labels.
    plain = _objects(document, OperatorSettings(), hooks)
    plain_children = {
        ObjectRef(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], "ns"): obj
        for obj in plain
    }
    kept = _objects(document, second, hooks, children=plain_children)
    for sts in _statefulsets(kept).values():
        assert "team" not in sts["spec"]["template"]["metadata"]["labels"]
        assert TEMPLATE_ANNOTATION not in sts["metadata"]["annotations"]


def test_template_settings_survive_their_annotation() -> None:
    template = TemplateSettings({"a": "1"}, {"b": "2"}, True, "fast")
    manifest = {"metadata": {"annotations": {TEMPLATE_ANNOTATION: template.to_annotation()}}}
    assert TemplateSettings.from_statefulset(manifest) == template
    broken = {"metadata": {"annotations": {TEMPLATE_ANNOTATION: "{not json"}}}
    assert TemplateSettings.from_statefulset(broken) == TemplateSettings()


def test_native_systemd_support_leaves_out_the_host_cgroup_mount(hooks: Hooks) -> None:
    app = app_wire()
    app["spec"]["systemdRequired"] = True

    def cgroup_mounted(settings: OperatorSettings) -> bool:
        sts = _statefulsets(_objects(cluster_wire(), settings, hooks, app=app))["master"]
        volumes = sts["spec"]["template"]["spec"]["volumes"]
        return any(volume.get("hostPath", {}).get("path") == "/sys/fs/cgroup" for volume in volumes)

    assert cgroup_mounted(OperatorSettings())
    assert cgroup_mounted(_settings(nativeSystemdSupport=False))
    assert not cgroup_mounted(_settings(nativeSystemdSupport=True))
