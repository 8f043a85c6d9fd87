"""The generated spark-defaults.conf and spark-env.sh, parsed, match the cluster."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import spark_builders as build
from kd_spark import plugin

import kubedirector_core as kd

CONF = "/opt/spark/conf"


def _files(
    cluster: kd.KubeDirectorCluster,
    member: kd.Member,
    members: tuple[kd.Member, ...] | None = None,
) -> dict[str, kd.MemberFile]:
    role = build.role_of(cluster, member.role)
    everyone = build.members(cluster) if members is None else members
    found = plugin.kd_member_files(build.app(), cluster, role, member, everyone)
    assert found is not None
    return {f.path: f for f in found}


def _defaults(
    cluster: kd.KubeDirectorCluster,
    member: kd.Member,
    members: tuple[kd.Member, ...] | None = None,
) -> dict[str, str]:
    """spark-defaults.conf as Spark reads it: ``key whitespace value``, # comments."""
    text = _files(cluster, member, members)[f"{CONF}/spark-defaults.conf"].content
    entries = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            assert key not in entries, f"{key} set twice"
            entries[key] = value
    return entries


def _env(cluster: kd.KubeDirectorCluster, member: kd.Member) -> dict[str, str]:
    """spark-env.sh's exports, as the shell sees them."""
    entries = {}
    for line in _files(cluster, member)[f"{CONF}/spark-env.sh"].content.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            [entries[name]] = shlex.split(value)
    return entries


def test_every_member_gets_the_master_url_from_the_masters_fqdn() -> None:
    master = build.member("master").hostname
    for role in ("worker", "history", "notebook", "master"):
        defaults = _defaults(build.cluster(), build.member(role))
        assert defaults["spark.master"] == f"spark://{master}:7077"
        assert _env(build.cluster(), build.member(role))["SPARK_MASTER_HOST"] == master


def test_worker_cores_and_memory_come_from_its_resources() -> None:
    cluster = build.cluster(worker_limits={"cpu": "6", "memory": "16Gi"})
    member = build.member("worker", 1)

    env = _env(cluster, member)

    assert env["SPARK_WORKER_CORES"] == "6"
    # 16 GiB less the worker's 1 GiB heap and 10 % (1638 MiB) overhead.
    assert env["SPARK_WORKER_MEMORY"] == "13722m"
    assert env["SPARK_DAEMON_MEMORY"] == "1024m"
    assert env["SPARK_LOCAL_HOSTNAME"] == member.hostname


def test_drivers_and_history_share_the_event_log_directory() -> None:
    cluster = build.cluster({"kd-spark/spark.eventLog.dir": "hdfs://nn:8020/spark-events"})

    notebook = _defaults(cluster, build.member("notebook"))
    history_env = _env(cluster, build.member("history"))

    assert notebook["spark.eventLog.enabled"] == "true"
    assert notebook["spark.eventLog.dir"] == "hdfs://nn:8020/spark-events"
    assert notebook["spark.driver.host"] == build.member("notebook").hostname
    assert (
        "-Dspark.history.fs.logDirectory=hdfs://nn:8020/spark-events"
        in (history_env["SPARK_HISTORY_OPTS"])
    )
    assert _defaults(build.cluster(), build.member("worker"))["spark.eventLog.dir"] == (
        "file:///data/spark-events"
    )


def test_executor_settings_come_from_the_annotation_else_the_app() -> None:
    assert _defaults(build.cluster(), build.member("worker"))["spark.executor.memory"] == "2g"
    document = build.cluster_wire()
    document["metadata"]["annotations"] = {}
    plain = kd.KubeDirectorCluster.from_wire(document)
    assert _defaults(plain, build.member("worker"))["spark.executor.memory"] == "1g"


def test_workers_leave_gracefully() -> None:
    defaults = _defaults(build.cluster(), build.member("worker"))
    assert defaults["spark.decommission.enabled"] == "true"
    assert defaults["spark.storage.decommission.enabled"] == "true"


def test_gpu_workers_get_spark_gpu_resources_and_a_discovery_script(tmp_path: Path) -> None:
    cluster = build.cluster(worker_limits={"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"})
    member = build.member("worker")

    defaults = _defaults(cluster, member)
    files = _files(cluster, member)

    assert defaults["spark.worker.resource.gpu.amount"] == "2"
    script_path = defaults["spark.worker.resource.gpu.discoveryScript"]
    assert script_path == f"{CONF}/gpu-discovery.sh"
    script = files[script_path]
    assert script.mode == 0o755
    # The script prints what Spark expects, from nvidia-smi (faked here).
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    (tmp_path / "gpu-discovery.sh").write_text(script.content)
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    out = subprocess.run(
        ["sh", str(tmp_path / "gpu-discovery.sh")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": path},
    ).stdout
    assert json.loads(out) == {"name": "gpu", "addresses": ["0", "1"]}


def test_cpu_workers_get_no_gpu_settings() -> None:
    files = _files(build.cluster(), build.member("worker"))
    assert f"{CONF}/gpu-discovery.sh" not in files
    assert "spark.worker.resource.gpu.amount" not in _defaults(
        build.cluster(), build.member("worker")
    )


@pytest.mark.parametrize("role", ["master", "worker", "history", "notebook"])
def test_the_same_cluster_renders_the_same_files(role: str) -> None:
    assert _files(build.cluster(), build.member(role)) == _files(
        build.cluster(), build.member(role)
    )


def test_files_name_the_master_as_the_core_names_it() -> None:
    cluster = build.cluster()
    master = kd.Member(
        name="spark-example-master-q2w4e-0",
        role="master",
        ordinal=0,
        hostname="spark-example-master-q2w4e-0.elsewhere.svc.cluster.local",
    )
    members = (master, *(m for m in build.members(cluster) if m.role != "master"))

    defaults = _defaults(cluster, build.member("worker"), members)

    assert defaults["spark.master"] == f"spark://{master.hostname}:7077"
