"""kd-hadoop ships as a distribution of its own: setup package, catalog and pip install."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from kd_hadoop.package import main, setup_package

from kubedirector_core.testing.packaging import install_alone, probe_plugin

PLUGIN = Path(__file__).resolve().parents[1]
APP, MEMBER_ROLE, MODULE = "hadoop3", "datanode", "kd_hadoop"
ROLES = [
    {"id": role, "members": count, "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
    for role, count in [
        ("namenode", 1),
        ("datanode", 3),
        ("resourcemanager", 1),
        ("nodemanager", 1),
    ]
]


def test_the_setup_package_is_reproducible_and_holds_the_startscript(tmp_path: Path) -> None:
    assert setup_package() == setup_package()
    with tarfile.open(fileobj=io.BytesIO(setup_package()), mode="r:gz") as archive:
        members = {info.name: info for info in archive.getmembers()}
        startscript = archive.extractfile("startscript")
        assert startscript is not None
        text = startscript.read().decode()
    assert set(members) == {"startscript", "kd-hadoop"}
    assert all(info.mode == 0o755 and info.mtime == 0 for info in members.values())
    assert all(flag in text for flag in ("--configure", "--addnodes", "--delnodes", "--reconnect"))
    assert main([str(tmp_path / "setup.tgz")]) == 0
    assert (tmp_path / "setup.tgz").read_bytes() == setup_package()


@pytest.mark.slow
def test_installs_with_pip_on_its_own_and_brings_its_catalog(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", minversion="77", reason="building needs setuptools>=77")
    python = install_alone(PLUGIN, tmp_path)

    result = probe_plugin(python, APP, ROLES, MEMBER_ROLE, MODULE)

    assert result["plugins"] == {"core": "0.1.0", "hadoop": "0.1.0"}
    assert str(result["module_file"]).startswith(str(python.parents[1]))
    assert result["apps"] == ["hadoop3"]
    assert result["claimed_by"] == ["core", "hadoop"]
    assert "/opt/hadoop/etc/hadoop/hdfs-site.xml" in result["files"]
    assert "/opt/kd-hadoop/bin/kd-hadoop" in result["files"]
