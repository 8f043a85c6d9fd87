"""SIGKILL the operator at random points: every run converges, nothing twice, nothing lost.

One cluster's life (create 3 members, grow to 5, shrink to 2) with the
operator killed and restarted at random moments of each phase; progress
survives only in the cluster's status. The seed is printed so a failing run
can be replayed (``KD_KILL_SEED``).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    fqdns_in,
    make_setup_package,
    members,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
)

pytestmark = pytest.mark.controlplane

KILLS_PER_PHASE = 7


def kill_during(operator: OperatorProcess, rng: random.Random, kills: list[float]) -> None:
    """Kill and restart the operator KILLS_PER_PHASE times, from the start of the phase on.

    The operator takes about a second to start, so most kills land while it
    is observing, applying, exec'ing or writing status; later ones hit a
    converged cluster, whose restart must change nothing.
    """
    for _ in range(KILLS_PER_PHASE):
        delay = rng.uniform(0.3, 2.0)
        time.sleep(delay)
        operator.kill()
        kills.append(delay)
        operator.start()


def test_the_operator_killed_at_random_points_converges_without_repeating_or_losing_work(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("KD_KILL_SEED", random.randrange(2**32)))
    print(f"KD_KILL_SEED={seed}")
    rng = random.Random(seed)
    kills: list[float] = []
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))

    phases = [3, 5, 2]
    seen: list[list[str]] = []
    for size in phases:
        apply(control_plane, namespace, recorder_cluster(size))
        kill_during(operator, rng, kills)
        # Once a phase is Ready, a further kill and restart must change nothing.
        cluster = wait_ready(control_plane, namespace, timeout=180)
        operator.restart()
        kills.append(0.0)
        seen.append([m["pod"] for m in members(cluster)])
    assert len(kills) >= 20, f"only {len(kills)} kills (seed {seed})"

    first, grown, kept = seen
    added = [pod for pod in grown if pod not in first]
    removed = [pod for pod in grown if pod not in kept]
    assert len(first) == 3
    assert len(added) == 2
    assert kept == grown[:2]
    cluster = wait_ready(control_plane, namespace)
    assert [m["pod"] for m in members(cluster)] == kept
    assert [m["nodeID"] for m in members(cluster)] == [1, 2]
    domain = next(
        f.split(".", 1)[1]
        for f in json.loads(
            (
                control_plane.pod_dir(namespace, kept[0]) / "etc/guestconfig/configmeta.json"
            ).read_text()
        )["nodegroups"]["1"]["roles"]["worker"]["fqdns"]
    )
    for pod in kept:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        assert calls.count("--configure") == 1, (seed, calls)
        added_fqdns = [f for c in calls if c.startswith("--addnodes") for f in fqdns_in(c)]
        deleted_fqdns = [f for c in calls if c.startswith("--delnodes") for f in fqdns_in(c)]
        assert added_fqdns == [f"{p}.{domain}" for p in added], (seed, calls)
        assert sorted(deleted_fqdns) == sorted(f"{p}.{domain}" for p in removed), (seed, calls)
    for pod in removed:
        gone = sorted((control_plane.pods_dir / namespace / ".gone").glob(f"{pod}.*"))
        calls = [c for directory in gone for c in recorded_calls(directory)]
        assert calls.count("--configure") == 1, (seed, pod, calls)
    status = cluster["status"]
    assert status["state"] == "configured"
    assert status["membersReady"] == "2/2"
    assert not any((m.get("stateDetail") or {}).get("pendingNotifyCmds") for m in members(cluster))
