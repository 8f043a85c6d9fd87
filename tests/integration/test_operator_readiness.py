"""A member joins only once its plugin's readiness check passes, through the real operator.

The plugin is a throwaway module loaded by the operator subprocess through
``KD_EXTRA_PLUGINS``. Its ``kd_member_readiness`` asks every member for a
check that passes once the file ``/ready`` exists in the member; the test
creates that file with ``kubectl exec``, member by member, and watches the
cluster stay ``creating`` until the last one is ready.
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
    event_messages,
    get_cluster,
    make_setup_package,
    members,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane

PLUGIN_NAME = "kdready"
PLUGIN_MODULE = "kd_throwaway_readiness_plugin"
PLUGIN_SOURCE = f'''
"""A plugin whose members are ready once the file /ready exists in them."""

from kubedirector_core import DoneWhen, ExecAction, hookimpl

KD_PLUGIN_NAME = "{PLUGIN_NAME}"


@hookimpl
def kd_claims():
    return ["test/recorder"]


@hookimpl
def kd_member_readiness(member):
    return ExecAction(
        key=f"ready:{{member.name}}",
        member=member.name,
        command=("true",),
        done_when=DoneWhen.CHECK_SUCCEEDS,
        check=("sh", "-c", 'test -f "${{KD_GUEST_ROOT:-}}/ready"'),
        poll_seconds=1.0,
        timeout_seconds=600.0,
        description="/ready exists",
    )
'''


@pytest.fixture
def operator_env(tmp_path: Path) -> dict[str, str]:
    """Load the throwaway readiness plugin into the operator subprocess."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    return {"KD_EXTRA_PLUGINS": PLUGIN_MODULE, "PYTHONPATH": str(folder)}


def _set_up_and_waiting(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    found = members(cluster) if cluster.get("status") else []
    waiting = [
        m for m in found if m.get("configured") and (m.get("stateDetail") or {}).get("waitingFor")
    ]
    return waiting if len(waiting) == 2 else []


def _done_for(cluster: dict[str, Any]) -> set[str]:
    records = (cluster.get("status") or {}).get("doneActions") or []
    return {str(r.get("readinessOf")) for r in records if r.get("readinessOf")}


def _make_ready(control_plane: ControlPlane, namespace: str, pod: str) -> None:
    control_plane.kubectl(
        "exec", pod, "-n", namespace, "--", "sh", "-c", 'touch "${KD_GUEST_ROOT:-}/ready"'
    )


def test_a_cluster_is_configured_only_once_every_members_readiness_check_passed(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    package = make_setup_package(tmp_path / "setup.tgz")
    apply(control_plane, namespace, recorder_app(package))
    apply(control_plane, namespace, recorder_cluster(2))
    started = time.monotonic()

    waiting = wait_until(
        "both members set up and waiting for their readiness check",
        lambda: _set_up_and_waiting(get_cluster(control_plane, namespace, "rec")),
        timeout=120,
    )
    assert isinstance(waiting, list)
    pods = sorted(m["pod"] for m in waiting)
    cluster = get_cluster(control_plane, namespace, "rec")
    assert cluster["status"]["state"] == "creating"
    assert not cluster_ready(cluster)
    assert {m["state"] for m in members(cluster)} == {"creating"}
    for member in members(cluster):
        assert "/ready exists" in member["stateDetail"]["waitingFor"]
        assert member["stateDetail"]["readiness"]["plugin"] == PLUGIN_NAME
    assert condition(cluster, "Progressing")["reason"] == "WaitingForReadiness"
    for pod in pods:  # set up: the startscript ran --configure
        assert any(
            call.startswith("--configure")
            for call in recorded_calls(control_plane.pod_dir(namespace, pod))
        )

    _make_ready(control_plane, namespace, pods[0])
    wait_until(
        f"the readiness of {pods[0]} recorded done",
        lambda: pods[0] in _done_for(get_cluster(control_plane, namespace, "rec")),
        timeout=120,
    )
    cluster = get_cluster(control_plane, namespace, "rec")
    assert cluster["status"]["state"] == "creating"  # its role's other member is not ready
    assert {m["state"] for m in members(cluster)} == {"creating"}

    _make_ready(control_plane, namespace, pods[1])
    ready = wait_ready(control_plane, namespace, "rec")
    assert ready["status"]["state"] == "configured"
    assert {m["state"] for m in members(ready)} == {"configured"}
    assert all("waitingFor" not in (m.get("stateDetail") or {}) for m in members(ready))
    messages = wait_until(
        "a MemberReady Event for each member",
        lambda: (
            (found := event_messages(control_plane, namespace, "rec", "MemberReady"))
            and len(found) == 2
            and found
        ),
        timeout=120,
    )
    assert isinstance(messages, list)
    for pod in pods:
        assert any(f"member {pod} is ready" in message for message in messages)
    print(f"\nconfigured after both readiness checks within {time.monotonic() - started:.1f}s")
