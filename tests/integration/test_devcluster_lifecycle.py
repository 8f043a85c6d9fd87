"""`kubedirector dev up/status/down` as a person uses them, including when things go wrong."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane

pytestmark = pytest.mark.controlplane


def dev(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubedirector_core", "dev", *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "plane"
    yield path
    ControlPlane(path).down()


def test_up_status_down_and_nothing_left_running(state: Path) -> None:
    up = dev(state, "up", "--nodes", "1")
    assert up.returncode == 0, up.stderr
    assert f"export KUBECONFIG={state.resolve()}/kubeconfigs/admin.kubeconfig" in up.stdout

    status = dev(state, "status")
    assert status.returncode == 0
    assert "running" in status.stdout
    assert "kwok-node-0" in status.stdout
    assert "Ready" in status.stdout

    again = dev(state, "up", "--nodes", "1")
    assert again.returncode == 0
    assert "already running" in again.stderr

    records = ControlPlane(state).processes.records()
    assert {r.name for r in records} >= {"etcd", "kube-apiserver", "kwok"}
    down = dev(state, "down")
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert not any(r.alive() for r in records)
    assert dev(state, "status").returncode == 1


def test_a_crashed_run_is_cleaned_up_by_the_next_up(state: Path) -> None:
    assert dev(state, "up", "--nodes", "1").returncode == 0
    plane = ControlPlane(state)
    crashed = plane.processes.records()
    # Simulate a crash: the API server dies, everything else stays behind.
    apiserver = next(r for r in crashed if r.name == "kube-apiserver")
    os.kill(apiserver.pid, signal.SIGKILL)
    assert not plane.is_running()

    up = dev(state, "up", "--nodes", "1")
    assert up.returncode == 0, up.stderr
    assert "removing stale state" in up.stderr
    assert not any(r.alive() for r in crashed), "leftovers of the crashed run were stopped"
    assert ControlPlane(state).is_running()


def test_a_taken_api_port_gives_a_clear_message_and_starts_nothing(state: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = dev(state, "up", "--api-port", str(port))
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not ControlPlane(state).processes.any_alive()
