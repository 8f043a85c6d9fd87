"""Changing a running cluster's connections runs a plugin's kd_on_config_change action once.

The plugin is a throwaway module written into the test's folder and loaded by
the operator subprocess through ``KD_EXTRA_PLUGINS``. Its action appends a
line to ``reloads.log`` in the member (read back with ``kubectl exec``) and to
the recording startscript's ``kd-calls.log``, so the order of ``--reconnect``
and the action is visible too.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    event_messages,
    get_cluster,
    make_setup_package,
    members,
    named,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane

PLUGIN_NAME = "kdreload"
PLUGIN_MODULE = "kd_throwaway_reload_plugin"
PLUGIN_SOURCE = f'''
"""Reloads the first worker of a recorder cluster after each change of its connections."""

from kubedirector_core import ExecAction, hookimpl

KD_PLUGIN_NAME = "{PLUGIN_NAME}"
RECORD = (
    'printf "%s\\\\n" "$0" >> "${{KD_GUEST_ROOT:-}}/reloads.log"; '
    'printf "reload %s\\\\n" "$0" >> "${{KD_GUEST_ROOT:-}}/kd-calls.log"'
)


def _names(cluster):
    connections = cluster.spec.connections
    return ",".join(connections.clusters or []) if connections else ""


@hookimpl
def kd_claims():
    return ["test/recorder"]


@hookimpl
def kd_on_config_change(cluster, old):
    first = cluster.status.roles[0].members[0].pod
    line = (
        f"generation {{old.metadata.generation}} to {{cluster.metadata.generation}}: "
        f"[{{_names(old)}}] to [{{_names(cluster)}}]"
    )
    return [
        ExecAction(
            key=f"reload-{{cluster.metadata.generation}}",
            member=first,
            command=("sh", "-c", RECORD, line),
        )
    ]
'''


@pytest.fixture
def operator_env(tmp_path: Path) -> dict[str, str]:
    """Load the throwaway plugin module into the operator subprocess."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    return {"KD_EXTRA_PLUGINS": PLUGIN_MODULE, "PYTHONPATH": str(folder)}


def _reloads(control_plane: ControlPlane, namespace: str, pod: str) -> list[str]:
    """The member's reloads.log, read inside it with kubectl exec."""
    result = control_plane.kubectl(
        "exec", "-n", namespace, pod, "-c", "app", "--", "cat", "reloads.log", check=False
    )
    return result.stdout.splitlines() if result.returncode == 0 else []


def _settled(control_plane: ControlPlane, namespace: str, connected: list[str]) -> Any:
    """The cluster once the change to ``connected`` is finished, else None."""
    cluster = get_cluster(control_plane, namespace, "rec")
    status = cluster.get("status") or {}
    record = status.get("reconciledConfig") or {}
    finished = (
        record.get("connections") == {"clusters": connected}
        and "configChange" not in status
        and "doneActions" not in status
    )
    return cluster if finished else None


def test_a_connection_change_runs_the_plugins_action_once_after_reconnect(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, named(recorder_cluster(1), "peer"))
    apply(control_plane, namespace, recorder_cluster(2))
    cluster = wait_ready(control_plane, namespace)
    wait_ready(control_plane, namespace, "peer")
    pods = [m["pod"] for m in members(cluster)]
    assert cluster["status"]["reconciledConfig"] == {"generation": 1}
    assert _reloads(control_plane, namespace, pods[0]) == []  # nothing changed yet

    started = time.monotonic()
    apply(
        control_plane,
        namespace,
        named(recorder_cluster(2), "rec", connections={"clusters": ["peer"]}),
    )
    changed = wait_until(
        "rec: the connection change finished",
        lambda: _settled(control_plane, namespace, ["peer"]),
        timeout=120,
    )
    assert isinstance(changed, dict)
    print(f"\nconnection change carried out in {time.monotonic() - started:.1f}s")
    assert changed["status"]["reconciledConfig"]["generation"] == 2

    assert _reloads(control_plane, namespace, pods[0]) == ["generation 1 to 2: [] to [peer]"]
    assert _reloads(control_plane, namespace, pods[1]) == []
    first_calls = recorded_calls(control_plane.pod_dir(namespace, pods[0]))
    assert first_calls == ["--configure", "--reconnect", "reload generation 1 to 2: [] to [peer]"]
    assert recorded_calls(control_plane.pod_dir(namespace, pods[1])) == [
        "--configure",
        "--reconnect",
    ]
    configmeta = json.loads(
        (control_plane.pod_dir(namespace, pods[0]) / "etc/guestconfig/configmeta.json").read_text()
    )
    assert list(configmeta["connections"]["clusters"]) == ["peer"]
    messages = event_messages(control_plane, namespace, "rec", "ConfigChanged")
    assert messages == [
        "spec.connections changed (generation 1 to 2): members were told, "
        "plugin actions done: reload-2"
    ]

    # After an operator restart and a resize (which is no configuration change)
    # the action has still run once.
    operator.restart()
    apply(
        control_plane,
        namespace,
        named(recorder_cluster(3), "rec", connections={"clusters": ["peer"]}),
    )
    grown = wait_ready(control_plane, namespace)
    assert len(members(grown)) == 3
    assert grown["status"]["reconciledConfig"]["generation"] == 3
    assert _reloads(control_plane, namespace, pods[0]) == ["generation 1 to 2: [] to [peer]"]
    assert event_messages(control_plane, namespace, "rec", "ConfigChanged") == messages
