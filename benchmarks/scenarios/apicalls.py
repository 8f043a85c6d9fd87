"""Scenario 3: the requests the operator makes, by verb and resource.

Counted from the API server's audit log, which the benchmark control plane
writes for the operator's identity only (``UpOptions.audit_users``). Each
phase starts at the log's current end and ends once the operator has been
idle (no request but its open watches) for 2 s:

* ``startup``: from process start, past the one-off resync LIST at 15 s;
* ``create``: a cluster of 1 controller + 2 workers with a setup package;
* ``add_member`` / ``remove_member``: the worker role resized by one;
* ``converged``: a window of ``Profile.converged_seconds`` with nothing changing.
"""

from __future__ import annotations

import time

from benchmarks import machine
from benchmarks.audit import AuditLog, Request, Tally, idle_since, tally
from benchmarks.harness import bench_cluster
from benchmarks.records import Record, Target
from benchmarks.scenarios import Context
from kubedirector_core.runtime.operator import RESYNC_AFTER
from kubedirector_core.testing.operator import OPERATOR_USER

NAMESPACE = "apicalls"
QUIET = 2.0
TIMEOUT = 300.0


def wait_idle(log: AuditLog, offset: int, start: float, timeout: float = TIMEOUT) -> float:
    """Wait until the operator made no request (watches aside) for ``QUIET`` s; return when.

    Times are wall-clock (the audit log's); ``start`` is where counting begins.
    """
    deadline = time.monotonic() + timeout
    while True:
        requests = log.requests_since(offset, OPERATOR_USER)
        idle = idle_since(requests, start, time.time(), QUIET)
        if idle is not None:
            return idle
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator was not idle for {QUIET}s within {timeout:.0f}s")
        time.sleep(0.5)


def wait_started(log: AuditLog, offset: int, timeout: float = TIMEOUT) -> float:
    """Wait for the operator's first request after ``offset``; return its time (wall clock)."""
    deadline = time.monotonic() + timeout
    while True:
        requests = [r for r in log.requests_since(offset, OPERATOR_USER) if not r.is_watch]
        if requests:
            return min(r.received for r in requests)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator made no request within {timeout:.0f}s")
        time.sleep(0.2)


def wait_settled(log: AuditLog, offset: int) -> float:
    """Wait until a just-started operator is idle after its one-off resync LIST; return when."""
    first = wait_started(log, offset)
    return wait_idle(log, offset, first + RESYNC_AFTER + 3)


def _phase(log: AuditLog, offset: int) -> tuple[Tally, list[Request]]:
    requests = log.requests_since(offset, OPERATOR_USER)
    return tally(requests), requests


def run(context: Context) -> list[Record]:
    """Count the operator's requests per phase; return the scenario's record."""
    load_before = machine.load_average()
    bench = context.bench
    log = AuditLog(bench.plane.audit_log)
    bench.namespace(NAMESPACE)
    app = bench.install_app(NAMESPACE, with_setup=True)
    phases: dict[str, dict[str, object]] = {}
    window = context.profile.converged_seconds
    with bench.running([NAMESPACE], context.profile.operator_args()):
        offset = log.offset()
        wait_settled(log, offset)
        phases["startup"] = _phase(log, offset)[0].to_json()

        for phase, workers in (("create", 2), ("add_member", 3), ("remove_member", 2)):
            offset, started = log.offset(), time.time()
            bench.apply(bench_cluster("api", workers, app), NAMESPACE)
            bench.wait_clusters_ready(NAMESPACE, 1, TIMEOUT)
            wait_idle(log, offset, started)
            phases[phase] = _phase(log, offset)[0].to_json()
            print(
                f"  {phase}: {phases[phase]['writes']} writes, {phases[phase]['execs']} execs",
                flush=True,
            )

        offset = log.offset()
        time.sleep(window)
        converged = _phase(log, offset)[0]
    minutes = window / 60
    phases["converged"] = {
        **converged.to_json(),
        "window_seconds": window,
        "writes_per_minute": round(converged.writes / minutes, 3),
        "lists_per_minute": round(converged.lists / minutes, 3),
    }
    added, removed = phases["add_member"], phases["remove_member"]
    targets = [
        Target(
            name="API writes per member added",
            target="<= 1 (amortized)",
            measured=f"{added['writes']} writes + {added['execs']} execs",
            met=int(str(added["writes"])) <= 1,
        ),
        Target(
            name="writes and lists while converged",
            target="0 and 0",
            measured=f"{converged.writes} and {converged.lists} in {window:.0f}s",
            met=converged.writes == 0 and converged.lists == 0,
        ),
    ]
    notes = [
        "counted from the API server's audit log (level Metadata, operator identity only), "
        "one count per audit ID",
        "writes = create/update/patch/delete requests; execs (pods/exec) are counted apart",
        f"removing a member: {removed['writes']} writes + {removed['execs']} execs",
    ]
    return [
        context.record(
            "apicalls",
            "API requests of the operator",
            {
                "cluster": "1 controller + 2 workers, no-op setup package",
                "converged_window_seconds": window,
                "idle_quiet_seconds": QUIET,
                "operator": context.profile.settings(),
            },
            phases,
            targets,
            load_before,
            notes,
        )
    ]
