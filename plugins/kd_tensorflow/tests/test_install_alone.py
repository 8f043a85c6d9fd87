"""kd-tensorflow as a user gets it: a wheel pip-installs into a fresh venv with only the core.

No network: third-party dependencies come from this interpreter's site-packages
through a filtered view that leaves out kubedirector-core and every plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1]
CORE = PLUGIN.parents[1]
OURS = ("kubedirector", "kd_", "kd-", "__editable__")

pytestmark = pytest.mark.slow

PROBE = """
import json
import kd_tensorflow
import kubedirector_core as kd
from kubedirector_core.catalog import load_catalog

catalog = load_catalog([])
hooks = kd.load_hooks()
app = catalog.apps()["tensorflow-training-gpu"]
print(json.dumps({
    "plugin": kd_tensorflow.__file__,
    "plugins": sorted(p.name for p in hooks.plugins()),
    "apps": catalog.names(),
    "claimed_by": hooks.claimed_by(app),
}))
"""


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def _wheel(source: Path, tmp: Path, wheels: Path) -> None:
    copy = tmp / "src" / source.name
    ignore = shutil.ignore_patterns("*.egg-info", "build", "__pycache__", "tests", "plugins")
    shutil.copytree(source, copy, ignore=ignore)
    if not (copy / "README.md").exists():
        (copy / "README.md").write_text("kubedirector-core\n")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(copy))


def test_the_wheel_installs_alone_with_its_plugin_and_catalog(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", minversion="77", reason="building needs setuptools>=77")
    wheels = tmp_path / "wheels"
    _wheel(CORE, tmp_path, wheels)
    _wheel(PLUGIN, tmp_path, wheels)
    view = tmp_path / "deps"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(OURS) and not entry.name.endswith(".pth"):
            (view / entry.name).symlink_to(entry)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "kd_test_dependencies.pth").write_text(f"{view}\n")
    _pip("--python", str(python), "install", "--no-deps", "--no-index", *map(str, wheels.iterdir()))

    clean = {k: v for k, v in os.environ.items() if not k.startswith("KD_")}
    probe = subprocess.run(
        [python, "-c", PROBE], check=True, capture_output=True, text=True, cwd=tmp_path, env=clean
    )
    result = json.loads(probe.stdout)

    assert result["plugin"].startswith(site)
    assert result["plugins"] == ["core", "tensorflow"]
    assert result["apps"] == ["tensorflow-training", "tensorflow-training-gpu"]
    assert result["claimed_by"] == ["core", "tensorflow"]
