"""Leader election settings and the renew deadline, without a server (see the HA tests for one)."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client

from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.leader import (
    ElectionOptions,
    ElectionTiming,
    LeaderElector,
    LeaseRecord,
    default_identity,
    default_namespace,
)


def test_timing_must_renew_before_a_standby_may_take_over() -> None:
    assert ElectionTiming() == ElectionTiming(15.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        ElectionTiming(lease_duration=10.0, renew_deadline=10.0)


def test_identity_and_namespace_come_from_the_pod_or_are_unique_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POD_NAME", raising=False)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    assert default_namespace() == "kubedirector"
    assert default_identity() != default_identity()  # two processes on one host differ
    monkeypatch.setenv("POD_NAME", "kubedirector-7d9f-abcde")
    monkeypatch.setenv("POD_NAMESPACE", "kd-system")
    assert default_identity() == "kubedirector-7d9f-abcde"
    assert default_namespace() == "kd-system"
    assert ElectionOptions(namespace="x").identity == "kubedirector-7d9f-abcde"


def test_a_released_lease_reads_as_held_by_nobody() -> None:
    record = LeaseRecord.of({"spec": {"leaseDurationSeconds": 1, "renewTime": "t"}})
    assert record == LeaseRecord(holder="", duration_seconds=1, renew_time="t", transitions=0)


def test_a_leader_past_its_renew_deadline_is_stopped_by_the_watchdog_thread() -> None:
    now = [100.0]
    elector = LeaderElector(
        KubeApi(client.ApiClient(client.Configuration())),
        ElectionOptions(namespace="ns", identity="me"),
        clock=lambda: now[0],
    )
    elector._leading = True  # as after acquire()
    elector.renewed_at = 100.0
    lost: list[str] = []
    called = threading.Event()

    def on_lost(reason: str) -> None:
        lost.append(reason)
        called.set()

    watchdog = threading.Thread(target=elector.watch_deadline, args=(on_lost, 0.01))
    watchdog.start()
    now[0] = 109.9
    assert not called.wait(0.2)  # within the deadline: still leading
    now[0] = 110.0
    assert called.wait(10)
    watchdog.join(10)
    assert not elector.is_leader
    assert lost == [
        "lost the leader Lease ns/kubedirector-operator: not renewed for 10 s "
        "(another replica may take over); stopping"
    ]
