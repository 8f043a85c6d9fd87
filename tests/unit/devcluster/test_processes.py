"""Processes are stopped only by their records, and never a PID that was reused."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubedirector_core.devcluster.cluster import Ports
from kubedirector_core.devcluster.processes import ProcessRecord, ProcessTable, port_is_free
from kubedirector_core.errors import DevClusterError


def test_started_processes_are_recorded_and_stopped(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    record = table.start("sleeper", ["/bin/sleep", "30"])
    assert record.alive()
    assert [r.name for r in table.records()] == ["sleeper"]
    assert table.stop_all() == ["sleeper"]
    assert not record.alive()
    assert table.records() == []


def test_a_pid_running_another_command_is_never_signalled(tmp_path: Path) -> None:
    unrelated = subprocess.Popen(["/bin/sleep", "30"])
    while not Path(f"/proc/{unrelated.pid}/cmdline").read_bytes():
        time.sleep(0.01)  # until its exec completed
    try:
        # A stale record whose PID now belongs to an unrelated process.
        stale = ProcessRecord(name="etcd", pid=unrelated.pid, argv=["/opt/etcd"], log="x.log")
        assert not stale.alive()
        stale.stop(timeout=0.5)
        time.sleep(0.1)
        assert unrelated.poll() is None, "the unrelated process must survive"
    finally:
        unrelated.kill()
        unrelated.wait()


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    table = ProcessTable(tmp_path)
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    record = table.start("stubborn", [sys.executable, "-c", script])
    time.sleep(0.3)
    started = time.monotonic()
    record.stop(timeout=0.5)
    assert not record.alive()
    assert time.monotonic() - started < 5
    table.stop_all()


def test_a_taken_api_port_is_refused_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(DevClusterError, match=f"port {port} .* already in use"):
            Ports.choose(port)


def test_chosen_ports_are_distinct_and_free() -> None:
    ports = Ports.choose(0)
    values = [
        ports.etcd_client,
        ports.etcd_peer,
        ports.apiserver,
        ports.controller_manager,
        ports.scheduler,
        ports.kwok,
    ]
    assert len(set(values)) == len(values)
    assert all(port_is_free(p) for p in values)
