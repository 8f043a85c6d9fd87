"""High availability: of two operator processes exactly one acts, and the other takes over.

The first test runs two :class:`LeaderElector` candidates against a real
Lease with clocks of their own, so the expiry rule is checked without waiting
15 s. The second runs two real operator processes with ``--leader-elect``,
kills the leader with SIGKILL while a cluster is resized, then stops the new
leader with SIGTERM, and prints how long each handover took.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.runtime.connection import load_configuration
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.leader import ElectionOptions, ElectionTiming, LeaderElector
from kubedirector_core.testing.deploy import LEASE, lease_holder
from kubedirector_core.testing.loopback import free_port, http_get
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    grant_operator,
    make_setup_package,
    members,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane

TIMING = ElectionTiming()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(control_plane: ControlPlane) -> Iterator[KubeApi]:
    api_client = client.ApiClient(load_configuration(control_plane.kubeconfig, None))
    yield KubeApi(api_client)
    api_client.close()  # type: ignore[no-untyped-call]


def lease(control_plane: ControlPlane, namespace: str) -> dict[str, Any]:
    found = control_plane.kubectl("get", "lease", LEASE, "-n", namespace, "-o", "json", check=False)
    spec: dict[str, Any] = json.loads(found.stdout)["spec"] if found.returncode == 0 else {}
    return spec


def test_candidates_on_a_real_lease_never_both_hold_it(api: KubeApi, namespace: str) -> None:
    clocks = {"a": Clock(), "b": Clock(), "c": Clock()}
    electors = {
        name: LeaderElector(
            api, ElectionOptions(namespace=namespace, name=LEASE, identity=name), clock=clock
        )
        for name, clock in clocks.items()
    }

    async def race() -> list[bool]:
        attempts = [asyncio.to_thread(e.try_acquire_or_renew) for e in electors.values()]
        return list(await asyncio.gather(*attempts))

    # Three candidates create the missing Lease at once: the API server lets one win.
    won = asyncio.run(race())
    assert won.count(True) == 1, won
    leader = next(name for name, w in zip(electors, won, strict=True) if w)
    others = [name for name in electors if name != leader]
    for name in others:  # they only observe: the record they saw starts their own timer
        assert not electors[name].try_acquire_or_renew()
    first, second = others
    clocks[first].now = TIMING.lease_duration - 0.1  # unrenewed, but not yet expired
    assert not electors[first].try_acquire_or_renew()
    assert electors[leader].try_acquire_or_renew()  # a renewal restarts every observer's timer
    clocks[first].now = TIMING.lease_duration + 1
    assert not electors[first].try_acquire_or_renew()
    # The leader stops renewing; the first whose clock passes the duration takes over.
    clocks[first].now += TIMING.lease_duration
    assert electors[first].try_acquire_or_renew()
    assert not electors[leader].try_acquire_or_renew()
    assert not electors[second].try_acquire_or_renew()
    # Releasing hands the Lease over at once, without waiting for it to expire.
    assert electors[first].release()
    assert electors[second].try_acquire_or_renew()
    spec = api.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
    )["spec"]
    assert spec["holderIdentity"] == second
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 2


class Replica:
    """One operator process with its identity, metrics and probe ports."""

    def __init__(self, name: str, kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
        self.name = name
        self.metrics = free_port()
        self.probes = free_port()
        args = [
            "--leader-elect",
            "--leader-election-namespace",
            namespace,
            "--metrics-bind-address",
            f"127.0.0.1:{self.metrics}",
            "--health-probe-bind-address",
            f"127.0.0.1:{self.probes}",
            "--log-format",
            "json",
        ]
        self.process = OperatorProcess(
            kubeconfig, [namespace], tmp_path / f"{name}.log", args, env={"POD_NAME": name}
        )

    def readiness(self) -> str:
        status, body = http_get(self.probes, "/readyz")
        return body.strip() if status == 200 else ""

    def reconciles(self) -> float:
        status, body = http_get(self.metrics, "/metrics")
        assert status == 200
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("controller_runtime_reconcile_total{")
        )

    def cluster_lines(self) -> list[dict[str, Any]]:
        """JSON log lines that concern a cluster (logged inside a reconcile)."""
        lines = [line for line in self.process.log().splitlines() if line.startswith("{")]
        return [entry for entry in map(json.loads, lines) if "cluster" in entry]


def test_one_of_two_operators_acts_and_the_other_takes_over_when_it_dies(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    tmp_path: Path,
) -> None:
    kubeconfig = grant_operator(control_plane)
    replicas = {n: Replica(n, kubeconfig, namespace, tmp_path) for n in ("op-a", "op-b")}
    try:
        for replica in replicas.values():
            replica.process.start()
        first = str(wait_until("a leader", lambda: lease_holder(control_plane, namespace), 120))
        leader, standby = replicas[first], next(r for n, r in replicas.items() if n != first)
        wait_until("the standby to report standby", lambda: standby.readiness() == "standby", 120)
        apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
        apply(control_plane, namespace, recorder_cluster(2))
        wait_ready(control_plane, namespace, timeout=180)

        # Only the leader acted: the standby reconciled nothing and logged nothing about it.
        assert leader.reconciles() > 0
        assert standby.reconciles() == 0
        assert leader.cluster_lines()
        assert standby.cluster_lines() == []
        assert lease_holder(control_plane, namespace) == leader.name

        # SIGKILL the leader and resize meanwhile: the standby takes over and converges.
        killed_at = time.monotonic()
        leader.process.kill()
        apply(control_plane, namespace, recorder_cluster(3))
        wait_until(
            "the standby to take the Lease",
            lambda: lease_holder(control_plane, namespace) == standby.name,
            120,
            0.05,
        )
        takeover = time.monotonic() - killed_at
        print(
            f"takeover after SIGKILL: {takeover:.1f} s (bound: 15 s + 2 s after the last renewal)"
        )
        cluster = wait_ready(control_plane, namespace, timeout=180)
        assert len(members(cluster)) == 3
        assert standby.reconciles() > 0
        assert {line["cluster"] for line in standby.cluster_lines()} == {"rec"}
        # The old leader renewed at most a retry period before it died: the standby
        # waited for the Lease to expire rather than taking it while it was valid.
        assert takeover >= TIMING.lease_duration - TIMING.retry_period
        assert (
            takeover < TIMING.lease_duration + TIMING.retry_period + 10
        )  # slack: a loaded machine

        # The old leader comes back as a standby; SIGTERM on the new leader hands over faster.
        leader.process.start()
        wait_until(
            "the restarted replica to be standby", lambda: leader.readiness() == "standby", 120
        )
        stopped_at = time.monotonic()
        standby.process.stop()
        wait_until(
            "the handover", lambda: lease_holder(control_plane, namespace) == leader.name, 120, 0.05
        )
        handover = time.monotonic() - stopped_at
        print(f"handover after SIGTERM: {handover:.1f} s (the Lease is released on the way out)")
        assert '"released the leader Lease' in standby.process.log()
        assert handover < TIMING.lease_duration - TIMING.retry_period  # no wait for expiry
        wait_until("the new leader ready", lambda: leader.readiness() == "ready", 120)
        apply(control_plane, namespace, recorder_cluster(2))
        assert len(members(wait_ready(control_plane, namespace, timeout=180))) == 2
    except BaseException:
        for replica in replicas.values():
            sys.stderr.write(f"\n----- {replica.name} log -----\n{replica.process.log()[-15000:]}")
        raise
    finally:
        control_plane.kubectl(
            "delete", "kubedirectorclusters", "--all", "-n", namespace, "--timeout=60s", check=False
        )
        control_plane.kubectl(
            "patch",
            "kubedirectorcluster",
            "rec",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
        for replica in replicas.values():
            replica.process.stop()
