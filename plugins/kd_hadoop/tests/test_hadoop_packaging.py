"""kd-hadoop ships as a distribution of its own: setup package, catalog and pip install."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path
from typing import Any

import pytest
from kd_hadoop.package import main, setup_package

PLUGIN = Path(__file__).resolve().parents[1]
CORE = PLUGIN.parents[1]
OURS = ("kubedirector", "kd_", "kd-", "__editable__")

PROBE = """
import json
import kubedirector_core as kd
from kubedirector_core.catalog import load_catalog

catalog = load_catalog([])
app = catalog.get("hadoop3").app
hooks = kd.load_hooks()
cluster = kd.KubeDirectorCluster.from_wire({
    "apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorCluster",
    "metadata": {"name": "h"},
    "spec": {"app": "hadoop3", "roles": [
        {"id": r, "members": n, "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
        for r, n in [("namenode", 1), ("datanode", 3), ("resourcemanager", 1), ("nodemanager", 1)]
    ]}})
member = kd.Member(name="h-datanode-0", role="datanode", ordinal=0, hostname="h-datanode-0.d")
files = hooks.member_files(app, cluster, cluster.role("datanode"), member)
print(json.dumps({
    "plugins": {p.name: p.version for p in hooks.plugins()},
    "apps": catalog.names(),
    "claimed_by": hooks.claimed_by(app),
    "files": sorted(f.path for f in files),
    "plugin_file": __import__("kd_hadoop").__file__,
}))
"""


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


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def _wheel(source: Path, tmp: Path, wheels: Path) -> None:
    """Build from a copy, so that nothing is written into the source tree."""
    copy = tmp / "src" / source.name
    ignore = shutil.ignore_patterns(
        "*.egg-info", "build", "__pycache__", "tests", "plugins", ".*", "reports"
    )
    shutil.copytree(source, copy, ignore=ignore)
    if not (copy / "README.md").exists():
        (copy / "README.md").write_text("kubedirector-core\n")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(copy))


@pytest.mark.slow
def test_installs_with_pip_on_its_own_and_brings_its_catalog(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", minversion="77", reason="building needs setuptools>=77")
    wheels = tmp_path / "wheels"
    for source in (CORE, PLUGIN):
        _wheel(source, tmp_path, wheels)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Third-party dependencies come from this interpreter, without the project's own packages.
    view = tmp_path / "deps"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(OURS) and not entry.name.endswith(".pth"):
            (view / entry.name).symlink_to(entry)
    (Path(site) / "kd_test_dependencies.pth").write_text(f"{view}\n")
    _pip("--python", str(python), "install", "--no-deps", "--no-index", *map(str, wheels.iterdir()))

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KD_", "KUBEDIRECTOR"))}
    done = subprocess.run(
        [python, "-c", PROBE], check=True, capture_output=True, text=True, env=clean, cwd=venv
    )
    result: dict[str, Any] = json.loads(done.stdout)

    assert result["plugins"] == {"core": "0.1.0", "hadoop": "0.1.0"}
    assert str(result["plugin_file"]).startswith(str(venv))
    assert result["apps"] == ["hadoop3"]
    assert result["claimed_by"] == ["core", "hadoop"]
    assert "/opt/hadoop/etc/hadoop/hdfs-site.xml" in result["files"]
    assert "/opt/kd-hadoop/bin/kd-hadoop" in result["files"]
