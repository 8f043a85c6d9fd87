"""A plugin that raises inside a hook fails only the clusters of the apps it claims.

The failing plugin is a throwaway module written into the test's folder and
loaded by the operator subprocess through ``KD_EXTRA_PLUGINS`` (no
distribution installed); disabling it by name and restarting the operator
lets its cluster recover.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    cluster_ready,
    condition,
    get_cluster,
    make_setup_package,
    named,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
    warning_events,
)

pytestmark = pytest.mark.controlplane

PLUGIN_NAME = "kdfailing"
PLUGIN_MODULE = "kd_throwaway_failing_plugin"
PLUGIN_SOURCE = f'''
"""A plugin that claims the app "doomed" and fails in kd_pre_create."""

from kubedirector_core import hookimpl

KD_PLUGIN_NAME = "{PLUGIN_NAME}"


@hookimpl
def kd_claims():
    return ["doomed"]


@hookimpl
def kd_pre_create(objects):
    raise RuntimeError("disk quota service unreachable")
'''


@pytest.fixture
def operator_env(tmp_path: Path) -> dict[str, str]:
    """Load the throwaway plugin module into the operator subprocess."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    return {"KD_EXTRA_PLUGINS": PLUGIN_MODULE, "PYTHONPATH": str(folder)}


def test_a_raising_plugin_fails_only_its_clusters_and_disabling_it_recovers(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    package = make_setup_package(tmp_path / "setup.tgz")
    apply(control_plane, namespace, recorder_app(package))  # not claimed by the plugin
    apply(control_plane, namespace, named(recorder_app(package), "doomed"))
    apply(control_plane, namespace, named(recorder_cluster(2), "doomed-1", app="doomed"))
    apply(control_plane, namespace, named(recorder_cluster(2), "healthy"))
    started = time.monotonic()

    healthy = wait_ready(control_plane, namespace, "healthy")
    assert not condition(healthy, "PluginFailed")

    def failed() -> dict[str, Any]:
        return condition(get_cluster(control_plane, namespace, "doomed-1"), "PluginFailed")

    found = wait_until("doomed-1: condition PluginFailed", lambda: failed().get("status") == "True")
    assert found
    failure = failed()
    assert PLUGIN_NAME in failure["message"]
    assert "kd_pre_create" in failure["message"]
    assert "disk quota service unreachable" in failure["message"]

    events = wait_until(
        "a Warning Event PluginFailed on doomed-1 naming the plugin",
        lambda: [
            e
            for e in warning_events(control_plane, namespace, "doomed-1")
            if e["reason"] == "PluginFailed" and PLUGIN_NAME in e["message"]
        ],
    )
    assert isinstance(events, list)
    assert "kd_pre_create" in events[0]["message"]
    # The failing cluster got no members: nothing was rendered past the failing hook.
    doomed = get_cluster(control_plane, namespace, "doomed-1")
    assert not cluster_ready(doomed)
    pods = control_plane.kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        "kubedirector.hpe.com/kdcluster=doomed-1",
        "-o",
        "name",
    ).stdout.split()
    assert pods == []
    print(f"\nhealthy Ready and doomed-1 PluginFailed within {time.monotonic() - started:.1f}s")

    # The healthy cluster keeps reconciling while the plugin fails: it grows.
    apply(control_plane, namespace, named(recorder_cluster(3), "healthy"))
    grown = wait_ready(control_plane, namespace, "healthy")
    assert sum(len(r.get("members") or []) for r in grown["status"]["roles"]) == 3
    assert failed().get("status") == "True"

    # Disable the plugin by name; after a restart the first cluster recovers.
    operator.env["KD_DISABLED_PLUGINS"] = PLUGIN_NAME
    operator.restart()
    recovered = wait_ready(control_plane, namespace, "doomed-1")
    assert condition(recovered, "PluginFailed").get("status") != "True"
    assert cluster_ready(get_cluster(control_plane, namespace, "healthy"))
