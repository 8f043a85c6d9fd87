"""A plugin installed on its own, as a user installs it: wheels in a fresh virtual environment.

:func:`install_alone` builds wheels of kubedirector-core and of the plugin (from
copies of their source folders, so nothing is written into the checkout) and
installs them, without dependencies and without an index, into a new venv whose
third-party dependencies (pydantic, pluggy...) are this interpreter's, minus the
project's own packages. :func:`run_probe` runs code there with no ``KD_*``
variable set and returns what it printed as JSON. Needs ``setuptools>=77`` and
pip in this interpreter; a test using them is ``slow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PLUGIN_PROBE", "install_alone", "probe_plugin", "run_probe"]

#: Names in site-packages that belong to this project, not to its dependencies.
OURS = ("kubedirector", "kd_", "kd-", "__editable__")


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


def install_alone(
    plugin_dir: Path | Sequence[Path], tmp_path: Path, core_dir: Path | None = None
) -> Path:
    """Install the core and the plugin(s) in ``plugin_dir`` into a new venv; return its python.

    ``plugin_dir`` is one plugin's source folder or several. ``core_dir`` is
    the core's source checkout (by default the one this module was imported
    from).
    """
    core = core_dir or Path(__file__).resolve().parents[2]
    plugins = [plugin_dir] if isinstance(plugin_dir, Path) else list(plugin_dir)
    wheels = tmp_path / "wheels"
    for source in (core, *plugins):
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
    return python


def run_probe(
    python: Path, code: str, *args: str, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run ``code`` with ``python`` (from its venv, no ``KD_*`` set); parse what it prints.

    ``env`` adds variables (e.g. ``KD_DISABLED_PLUGINS``) after the ``KD_*``
    ones of this process are removed.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KD_", "KUBEDIRECTOR"))}
    done = subprocess.run(
        [python, "-c", code, *args],
        check=True,
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=python.parents[1],
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


#: What the installed plugins make of one catalog app (see :func:`probe_plugin`).
PLUGIN_PROBE = """
import importlib, json, sys
import kubedirector_core as kd
from kubedirector_core.catalog import load_catalog

request = json.loads(sys.argv[1])
catalog = load_catalog([])
app = catalog.get(request["app"]).app
hooks = kd.load_hooks()
cluster = kd.KubeDirectorCluster.from_wire({
    "apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorCluster",
    "metadata": {"name": "probe"}, "spec": {"app": request["app"], "roles": request["roles"]}})
members = [
    kd.Member(name=f"probe-{r.id}-{i}", role=r.id, ordinal=i, hostname=f"probe-{r.id}-{i}.d")
    for r in cluster.spec.roles for i in range(r.members or 0)
]
member = next(m for m in members if m.role == request["member_role"])
files = hooks.member_files(app, cluster, cluster.role(member.role), member, members)
print(json.dumps({
    "plugins": {p.name: p.version for p in hooks.plugins()},
    "apps": catalog.names(),
    "claimed_by": hooks.claimed_by(app),
    "files": sorted(f.path for f in files),
    "module_file": importlib.import_module(request["module"]).__file__,
}))
"""


def probe_plugin(
    python: Path, app: str, roles: list[dict[str, Any]], member_role: str, module: str
) -> dict[str, Any]:
    """What the plugins installed for ``python`` make of the catalog app ``app``.

    A cluster ``probe`` with ``roles`` (as written in a spec) is built; the
    answer holds ``plugins`` (name -> version), ``apps`` (the catalog),
    ``claimed_by`` (the plugins claiming ``app``), ``files`` (the paths the
    first member of ``member_role`` receives) and ``module_file`` (where
    ``module`` was imported from: the venv, not the checkout).
    """
    request = {"app": app, "roles": roles, "member_role": member_role, "module": module}
    return run_probe(python, PLUGIN_PROBE, json.dumps(request))
