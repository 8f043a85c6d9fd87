"""Plugins as third parties ship them: built, pip-installed into a fresh venv, found by name.

The fresh virtual environment gets the core and the plugins as wheels built
here, with no network: third-party dependencies (pydantic, pluggy, ...) come
from this interpreter's site-packages through a filtered view that leaves out
kubedirector-core and every plugin, so that only what was installed is found.
The "rendered cluster" is what ``kubedirector render`` prints: the core's
planner (``kubedirector_core.plan.render_objects``) with the installed plugins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.testing.packaging import install_alone, run_probe

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "kd-example-plugin"
BUNDLED = {"hadoop": "kd_hadoop", "spark": "kd_spark", "tensorflow": "kd_tensorflow"}

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
import kubedirector_core as kd
from kubedirector_core.plan import render_objects
from kubedirector_core.plugins import load_hooks

app = kd.KubeDirectorApp.from_wire({
    "apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorApp",
    "metadata": {"name": "demo"},
    "spec": {"label": {"name": "demo"}, "distroID": sys.argv[1], "version": "1",
             "configSchemaVersion": 7, "defaultImageRepoTag": "busybox:1",
             "roles": [{"id": "worker", "cardinality": "1+"}],
             "config": {"roleServices": [], "selectedRoles": ["worker"]}}})
def make_cluster(members):
    return kd.KubeDirectorCluster.from_wire({
        "apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorCluster",
        "metadata": {"name": "c1", "labels": {"example.com/team": "search"}},
        "spec": {"app": "demo", "roles": [{"id": "worker", "members": members,
                 "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}})
cluster = make_cluster(9)  # more members than the example plugin allows
valid = make_cluster(3)
hooks = load_hooks()
print(json.dumps({
    "core": kd.__file__,
    "plugins": {p.name: p.version for p in hooks.plugins()},
    "claimed_by": hooks.claimed_by(app),
    "rendered": [o for o in render_objects(app, valid, hooks) if o["kind"] == "StatefulSet"],
    "configmeta": hooks.configmeta(app, cluster),
    "problems": [[p.path, p.source] for p in hooks.validate_cluster(cluster, app, None)],
}))
"""


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding wheels of the core, the example plugin and the three plugins."""
    pytest.importorskip("setuptools", minversion="77", reason="building needs setuptools>=77")
    plugins = [EXAMPLE, *(ROOT / "plugins" / pkg for pkg in BUNDLED.values())]
    return install_alone(plugins, tmp_path_factory.mktemp("fresh-venv"), ROOT)


def _probe(python: Path, distro_id: str, **env: str) -> dict[str, Any]:
    return run_probe(python, PROBE, distro_id, env=env)


def test_example_plugin_changes_a_rendered_cluster_once_installed(fresh_venv: Path) -> None:
    installed = _probe(fresh_venv, "example/demo")
    disabled = _probe(fresh_venv, "example/demo", KD_DISABLED_PLUGINS="example")

    assert str(installed["core"]).startswith(str(fresh_venv.parents[1]))  # not this checkout
    assert installed["claimed_by"] == ["core", "example"]
    [statefulset] = installed["rendered"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert labels["example.com/team"] == "search"
    assert labels["kubedirector.hpe.com/role"] == "worker"  # the core's own labels stay
    assert installed["configmeta"] == {"example": {"team": "search"}}
    assert installed["problems"] == [["spec.roles[0].members", "example"]]

    [untouched] = disabled["rendered"]
    assert "example.com/team" not in untouched["spec"]["template"]["metadata"]["labels"]
    assert untouched["spec"]["replicas"] == statefulset["spec"]["replicas"] == 3
    assert disabled["configmeta"] == {}
    assert disabled["problems"] == []


def test_bundled_plugins_are_found_through_entry_points(fresh_venv: Path) -> None:
    listing = _probe(fresh_venv, "bluedata/spark245")["plugins"]
    assert listing == {
        "core": "0.1.0",
        "example": "0.1.0",
        "hadoop": "0.1.0",
        "spark": "0.1.0",
        "tensorflow": "0.1.0",
    }


@pytest.mark.parametrize(
    ("name", "distro_id"),
    [
        ("hadoop", "bluedata/cdh51427x"),
        ("spark", "bluedata/spark245"),
        ("tensorflow", "bluedata/tensorflow"),
    ],
)
def test_disabling_a_bundled_plugin_by_name_removes_it(
    fresh_venv: Path, name: str, distro_id: str
) -> None:
    enabled = _probe(fresh_venv, distro_id)
    disabled = _probe(fresh_venv, distro_id, KD_DISABLED_PLUGINS=name)

    assert enabled["claimed_by"] == ["core", name]
    assert disabled["claimed_by"] == ["core"]
    assert name not in disabled["plugins"]
