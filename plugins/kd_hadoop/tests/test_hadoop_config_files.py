"""The generated Hadoop configuration, parsed as Hadoop would read it, matches the cluster."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import hadoop_builders as build
import pytest
from kd_hadoop import plugin

import kubedirector_core as kd

CONF = "/opt/hadoop/etc/hadoop"


def _files(cluster: kd.KubeDirectorCluster, member: kd.Member) -> dict[str, kd.MemberFile]:
    role = build.role_of(cluster, member.role)
    found = plugin.kd_member_files(build.app(), cluster, role, member, build.members(cluster))
    assert found is not None
    return {f.path: f for f in found}


def _site(cluster: kd.KubeDirectorCluster, member: kd.Member, name: str) -> dict[str, str]:
    """The properties of ``<name>-site.xml`` as Hadoop's Configuration reads them."""
    root = ET.fromstring(_files(cluster, member)[f"{CONF}/{name}-site.xml"].content)
    assert root.tag == "configuration"
    properties = {}
    for prop in root.findall("property"):
        name_text, value_text = prop.findtext("name"), prop.findtext("value")
        assert name_text is not None
        assert value_text is not None
        assert name_text not in properties, f"{name_text} defined twice"
        properties[name_text] = value_text
    return properties


def _env(cluster: kd.KubeDirectorCluster, member: kd.Member) -> str:
    return _files(cluster, member)[f"{CONF}/hadoop-env.sh"].content


def test_every_member_finds_the_namenode_by_its_fqdn() -> None:
    cluster = build.cluster()
    namenode = build.fqdn("namenode", 0)
    for role, ordinal in [("datanode", 2), ("nodemanager", 0), ("gateway", 0), ("namenode", 0)]:
        core = _site(cluster, build.member(role, ordinal), "core")
        hdfs = _site(cluster, build.member(role, ordinal), "hdfs")
        assert core["fs.defaultFS"] == f"hdfs://{namenode}:8020"
        assert hdfs["dfs.namenode.rpc-address"] == f"{namenode}:8020"
        assert hdfs["dfs.namenode.http-address"] == f"{namenode}:9870"


def test_replication_comes_from_the_cluster_annotation_else_the_app() -> None:
    datanode = build.member("datanode", 0)

    assert _site(build.cluster(replication=2), datanode, "hdfs")["dfs.replication"] == "2"
    assert _site(build.cluster(replication=None), datanode, "hdfs")["dfs.replication"] == "3"


def test_datanodes_register_by_their_own_hostname_so_exclusion_matches() -> None:
    hdfs = _site(build.cluster(), build.member("datanode", 1), "hdfs")

    assert hdfs["dfs.datanode.hostname"] == build.fqdn("datanode", 1)
    assert hdfs["dfs.hosts.exclude"] == f"{CONF}/dfs.exclude"
    assert "dfs.datanode.hostname" not in _site(build.cluster(), build.member("gateway"), "hdfs")


@pytest.mark.parametrize(
    ("memory", "cpu", "yarn_mb", "heap_mb"),
    [("8Gi", "4", 6144, 1024), ("4Gi", "2", 3072, 512), ("16Gi", "8", 13312, 1024)],
)
def test_nodemanager_offers_yarn_its_memory_less_heap_and_overhead(
    memory: str, cpu: str, yarn_mb: int, heap_mb: int
) -> None:
    document = build.cluster_wire()
    for role in document["spec"]["roles"]:
        if role["id"] == "nodemanager":
            role["resources"]["limits"] = {"cpu": cpu, "memory": memory}
    cluster = kd.KubeDirectorCluster.from_wire(document)
    member = build.member("nodemanager", 1)

    yarn = _site(cluster, member, "yarn")

    assert yarn["yarn.nodemanager.resource.memory-mb"] == str(yarn_mb)
    assert yarn["yarn.nodemanager.resource.cpu-vcores"] == cpu
    assert yarn["yarn.nodemanager.hostname"] == member.hostname
    assert yarn["yarn.scheduler.maximum-allocation-mb"] == str(yarn_mb)
    assert int(yarn["yarn.nodemanager.resource.memory-mb"]) % 1024 == 0
    assert f'YARN_NODEMANAGER_OPTS="-Xms{heap_mb}m -Xmx{heap_mb}m"' in _env(cluster, member)


def test_every_member_knows_the_resourcemanager_and_the_scheduler_bounds() -> None:
    yarn = _site(build.cluster(), build.member("gateway"), "yarn")

    assert yarn["yarn.resourcemanager.hostname"] == build.fqdn("resourcemanager", 0)
    assert yarn["yarn.resourcemanager.webapp.address"] == f"{build.fqdn('resourcemanager', 0)}:8088"
    assert yarn["yarn.scheduler.minimum-allocation-mb"] == "1024"
    assert yarn["yarn.scheduler.maximum-allocation-mb"] == "6144"  # the 8Gi NodeManagers' offer
    assert "yarn.nodemanager.resource.memory-mb" not in yarn


def test_master_daemons_get_three_quarters_of_their_memory_as_heap() -> None:
    cluster = build.cluster(memory={"namenode": "4Gi"})
    env = _env(cluster, build.member("namenode"))

    assert 'HDFS_NAMENODE_OPTS="-Xms3072m -Xmx3072m"' in env
    assert "YARN_" not in env


def test_workers_lists_every_datanode_and_nodemanager_once() -> None:
    cluster = build.cluster(datanode=4, nodemanager=2)
    workers = _files(cluster, build.member("gateway"))[f"{CONF}/workers"].content.splitlines()

    assert workers == [
        *(build.fqdn("datanode", i) for i in range(4)),
        *(build.fqdn("nodemanager", i) for i in range(2)),
    ]


def test_files_are_regenerated_when_members_change() -> None:
    member = build.member("gateway")
    before = _files(build.cluster(datanode=3), member)
    after = _files(build.cluster(datanode=4), member)

    assert before[f"{CONF}/workers"] != after[f"{CONF}/workers"]
    assert build.fqdn("datanode", 3) in after[f"{CONF}/workers"].content
    assert before[f"{CONF}/core-site.xml"] == after[f"{CONF}/core-site.xml"]


def test_files_name_the_namenode_as_the_core_names_it() -> None:
    cluster = build.cluster()
    pod = "hadoop-example-namenode-x7k2q-0"
    namenode = kd.Member(name=pod, role="namenode", ordinal=0, hostname=f"{pod}.elsewhere.svc")
    members = (namenode, *(m for m in build.members(cluster) if m.role != "namenode"))
    datanode = build.member("datanode")
    role = build.role_of(cluster, "datanode")

    files = plugin.kd_member_files(build.app(), cluster, role, datanode, members) or []

    [core] = [f for f in files if f.path.endswith("/core-site.xml")]
    assert f"<value>hdfs://{namenode.hostname}:8020</value>" in core.content


def test_the_same_cluster_renders_the_same_files() -> None:
    member = build.member("datanode", 1)
    assert _files(build.cluster(), member) == _files(build.cluster(), member)


def test_members_get_the_helper_and_their_daemons() -> None:
    files = _files(build.cluster(), build.member("datanode"))

    helper = files["/opt/kd-hadoop/bin/kd-hadoop"]
    assert helper.mode == 0o755
    assert helper.content.startswith("#!/bin/sh")
    assert "KD_HADOOP_DAEMONS='datanode'" in files["/etc/kd-hadoop/env"].content


def test_apps_without_a_namenode_role_get_nothing() -> None:
    document = build.app_wire()
    document["spec"]["roles"] = [{"id": "worker", "cardinality": "1+"}]
    document["spec"]["config"] = {"roleServices": [], "selectedRoles": ["worker"]}
    app = kd.KubeDirectorApp.from_wire(document)
    cluster = build.cluster()

    role = build.role_of(cluster, "datanode")
    member = build.member("datanode")
    assert plugin.kd_member_files(app, cluster, role, member, (member,)) is None
    assert plugin.kd_configmeta(app, cluster) is None
    assert plugin.kd_validate_cluster(cluster=cluster, app=app) == []
