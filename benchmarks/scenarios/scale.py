"""Scenarios 4 and 5: many clusters at once, then an operator restart among them.

For each size S: the baseline applies the objects ``kubedirector render``
prints for S clusters (1 controller + 2 workers each) from 8 client threads
and waits until the 3*S pods are Ready; then a fresh operator, idle after its
start-up, gets the S KubeDirectorClusters from 8 client threads and the clock
stops when all are Ready. Measured: time from the first apply and from the last
apply, the operator's peak RSS (VmHWM) and CPU seconds, and the control plane's
CPU seconds in each arm. Everything is deleted before the next size.

Scenario 5 runs on the largest size before it is deleted: a few clusters with
a setup package join the converged ones, the operator is SIGKILLed and started
again, and the audit log tells when it was idle (no request but its watches
for 2 s after its first one) and what it wrote; its log tells which
in-container actions (hooks) it ran again.
"""

from __future__ import annotations

import re
import time
from typing import Any

from benchmarks import machine, metrics
from benchmarks.audit import AuditLog, idle_since, tally
from benchmarks.harness import APP, bench_app, bench_cluster, rendered
from benchmarks.profiling import Sampler
from benchmarks.records import Record, Target
from benchmarks.scenarios import Context
from benchmarks.scenarios.apicalls import QUIET, wait_idle, wait_settled
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.devcluster.processes import free_port
from kubedirector_core.runtime.operator import RESYNC_AFTER
from kubedirector_core.testing.operator import OPERATOR_USER, OperatorProcess

WORKERS = 2
MEMBERS = WORKERS + 1
SETUP_CLUSTERS = 20
#: ClusterIP member Services: 1,000 clusters x 3 NodePorts would not fit the node-port range.
SPEC = {"serviceType": "ClusterIP"}
MIB = 1024 * 1024
#: "running <action> (<key>) in <namespace>/<pod>": one in-container action started.
ACTION_LINE = re.compile(r"running \S+ \(")


def memory_target_bytes(clusters: int) -> int:
    """The issue's memory target: 80 MiB plus 50 KiB per cluster."""
    return 80 * MIB + clusters * 50 * 1024


def _timeout(clusters: int) -> float:
    return 600.0 + clusters * 2.0


def _baseline(context: Context, size: int) -> dict[str, Any]:
    bench = context.bench
    namespace = bench.namespace(f"scale-base-{size}")
    clusters = [bench_cluster(f"c{i}", WORKERS, extra_spec=SPEC) for i in range(size)]
    objects = rendered(bench_app(APP), clusters, namespace)
    pids = bench.control_plane_pids()
    cpu_before = machine.cpu_seconds(pids)
    started = time.monotonic()
    bench.apply_all(objects, namespace)
    last_apply = time.monotonic()
    ready = bench.wait_pods_ready(namespace, size * MEMBERS, _timeout(size))
    figures = {
        "objects_applied": len(objects),
        "apply_seconds": round(last_apply - started, 3),
        "ready_seconds": round(ready - started, 3),
        "ready_after_last_apply_seconds": round(ready - last_apply, 3),
        "control_plane_cpu_seconds": round(machine.cpu_seconds(pids) - cpu_before, 2),
    }
    bench.clear_baseline(namespace, _timeout(size))
    bench.plane.kubectl("delete", "namespace", namespace, "--wait=false")
    return figures


def _operator(
    context: Context, size: int, operator: OperatorProcess, namespace: str, app: str
) -> dict[str, Any]:
    bench = context.bench
    log = AuditLog(bench.plane.audit_log)
    assert operator.process is not None
    pid = operator.process.pid
    idle_cost = machine.process_cost(pid)
    pids = bench.control_plane_pids()
    cpu_before = machine.cpu_seconds(pids)
    sampler = None
    if context.profile_operator and size == max(context.profile.scale_sizes):
        # The raw stacks stay in the work folder (--keep); the record keeps the summary.
        sampler = Sampler(pid, bench.work_dir / f"profile-scale-{size}.txt")
    offset = log.offset()
    started = time.monotonic()
    clusters = [bench_cluster(f"c{i}", WORKERS, app, SPEC) for i in range(size)]
    bench.apply_all(clusters, namespace)
    last_apply = time.monotonic()
    ready = bench.wait_clusters_ready(namespace, size, _timeout(size))
    cost = machine.process_cost(pid)
    profile = sampler.stop() if sampler is not None else None
    requests = tally(log.requests_since(offset, OPERATOR_USER))
    figures: dict[str, Any] = {
        "apply_seconds": round(last_apply - started, 3),
        "ready_seconds": round(ready - started, 3),
        "ready_after_last_apply_seconds": round(ready - last_apply, 3),
        "operator_peak_rss_mib": round(cost.peak_rss_bytes / MIB, 1),
        "operator_rss_idle_before_mib": round(idle_cost.rss_bytes / MIB, 1),
        "operator_cpu_seconds": round(cost.cpu_seconds - idle_cost.cpu_seconds, 2),
        "control_plane_cpu_seconds": round(machine.cpu_seconds(pids) - cpu_before, 2),
        "operator_requests": {k: v for k, v in requests.to_json().items() if k != "by_request"},
    }
    if profile is not None:
        figures["profile"] = profile
    return figures


def metrics_idle_since(samples: list[tuple[float, bool]], after: float) -> float | None:
    """The time from which every metrics sample (time, idle) taken after ``after`` was idle."""
    since = None
    for moment, quiet in samples:
        if moment < after:
            continue
        if not quiet:
            since = None
        elif since is None:
            since = moment
    return since


def _restart(
    context: Context,
    operator: OperatorProcess,
    clusters: int,
    metrics_address: str | None,
) -> dict[str, Any]:
    """Kill -9 and start the operator among ``clusters`` converged clusters; what it did."""
    bench = context.bench
    log = AuditLog(bench.plane.audit_log)
    wait_idle(log, log.offset(), time.time())
    offset = log.offset()
    log_before = len(operator.log())
    operator.kill()
    started = time.time()
    operator.start()
    assert operator.process is not None
    # Observe past the one-off resync LIST, then until idle by both measures.
    observe_until = started + RESYNC_AFTER + QUIET + 3
    deadline = time.monotonic() + 900
    samples: list[tuple[float, bool]] = []
    actions: float | None = None
    while True:
        now = time.time()
        if metrics_address is not None:
            try:
                sample = metrics.scrape(metrics_address)
            except OSError:
                pass  # not serving yet
            else:
                samples.append((now, metrics.idle(sample)))
                actions = sample.get(metrics.ACTIONS, 0.0)
        requests = log.requests_since(offset, OPERATOR_USER)
        first = min((r.received for r in requests if not r.is_watch), default=None)
        if first is not None and now >= observe_until:
            quiet_since = idle_since(requests, first, now, QUIET)
            queue_empty = metrics_address is None or bool(samples and samples[-1][1])
            if quiet_since is not None and queue_empty:
                break
        if time.monotonic() > deadline:
            raise TimeoutError("the restarted operator never went idle")
        time.sleep(0.25)
    # The resync LIST at RESYNC_AFTER is a scheduled one-off: idle before it counts.
    resync = started + RESYNC_AFTER - 0.5
    before_resync = [r for r in requests if r.received < resync]
    quiet_at = idle_since(before_resync, first, resync, QUIET)
    if quiet_at is None:
        quiet_at = idle_since(requests, first, now, QUIET)
    assert quiet_at is not None
    empty_at = metrics_idle_since(samples, first) if metrics_address is not None else None
    idle_at = max(quiet_at, empty_at) if empty_at is not None else quiet_at
    counted = tally(requests)
    logged_actions = len(ACTION_LINE.findall(operator.log()[log_before:]))
    peak = machine.process_cost(operator.process.pid).peak_rss_bytes
    return {
        "clusters": clusters,
        "seconds_to_first_request": round(first - started, 3),
        "seconds_to_idle": round(idle_at - started, 3),
        "seconds_to_no_requests": round(quiet_at - started, 3),
        "seconds_to_empty_queue": round(empty_at - started, 3) if empty_at else None,
        "idle_detected_by": "audit log + workqueue_depth/active workers metrics"
        if metrics_address
        else "audit log only (the operator serves no metrics)",
        "writes": counted.writes,
        "lists": counted.lists,
        "execs": counted.execs,
        "requests": counted.to_json(),
        "hooks_rerun": int(actions) if actions is not None else logged_actions,
        "hooks_rerun_in_log": logged_actions,
        "operator_peak_rss_mib": round(peak / MIB, 1),
    }


def run(context: Context) -> list[Record]:
    """Run scenario 4 for every size and scenario 5 on the largest; return their records."""
    load_before = machine.load_average()
    bench = context.bench
    profile = context.profile
    existing = len(bench.plane.kubectl("get", "nodes", "-o", "name").stdout.split())
    bench.add_nodes(
        [NodeSpec(name=f"kwok-scale-{i}") for i in range(profile.scale_nodes - existing)]
    )
    largest = max(profile.scale_sizes)
    serves_metrics = metrics.supported()
    sizes: dict[str, Any] = {}
    restart: dict[str, Any] = {}
    restart_load = load_before
    for size in profile.scale_sizes:
        print(f"  scale {size}: baseline", flush=True)
        baseline = _baseline(context, size)
        print(f"  scale {size}: baseline Ready in {baseline['ready_seconds']:.1f}s", flush=True)
        namespace = bench.namespace(f"scale-op-{size}")
        app = bench.install_app(namespace, with_setup=False)
        metrics_address = f"127.0.0.1:{free_port()}" if serves_metrics else None
        extra = ["--metrics-bind-address", metrics_address] if metrics_address else []
        operator = bench.operator([namespace], [*profile.operator_args(), *extra])
        audit = AuditLog(bench.plane.audit_log)
        offset = audit.offset()
        operator.start()
        try:
            wait_settled(audit, offset)
            figures = _operator(context, size, operator, namespace, app)
            print(f"  scale {size}: operator Ready in {figures['ready_seconds']:.1f}s", flush=True)
            if size == largest:
                restart_load = machine.load_average()
                setup_app = bench.install_app(namespace, with_setup=True)
                bench.apply_all(
                    [
                        bench_cluster(f"s{i}", WORKERS, setup_app, SPEC)
                        for i in range(SETUP_CLUSTERS)
                    ],
                    namespace,
                )
                bench.wait_clusters_ready(namespace, size + SETUP_CLUSTERS, _timeout(size))
                restart = _restart(context, operator, size + SETUP_CLUSTERS, metrics_address)
                print(
                    f"  restart: idle after {restart['seconds_to_idle']:.1f}s, "
                    f"{restart['writes']} writes, {restart['hooks_rerun']} hooks",
                    flush=True,
                )
        finally:
            operator.stop()
        bench.abandon_clusters(namespace, _timeout(size))
        bench.plane.kubectl("delete", "namespace", namespace, "--wait=false")
        sizes[str(size)] = {"baseline": baseline, "operator": figures}

    targets = []
    for label, arms in sizes.items():
        clusters = int(label)
        operator_figures, baseline = arms["operator"], arms["baseline"]
        peak = operator_figures["operator_peak_rss_mib"] * MIB
        targets.append(
            Target(
                name=f"operator memory, {clusters} clusters",
                target=f"<= {memory_target_bytes(clusters) / MIB:.1f} MiB",
                measured=f"{operator_figures['operator_peak_rss_mib']} MiB peak",
                met=peak <= memory_target_bytes(clusters),
            )
        )
        after = operator_figures["ready_after_last_apply_seconds"]
        floor = baseline["ready_after_last_apply_seconds"]
        targets.append(
            Target(
                name=f"{clusters} clusters x {MEMBERS} members Ready after the last apply",
                target="<= 60 s (baseline is the floor)",
                measured=f"{after:.1f} s (baseline {floor:.1f} s)",
                met=after <= 60,
            )
        )
    parameters = {
        "sizes": list(profile.scale_sizes),
        "members_per_cluster": MEMBERS,
        "nodes": profile.scale_nodes,
        "client_threads": 8,
        "service_type": SPEC["serviceType"],
        "operator": profile.settings(),
    }
    records = [
        context.record(
            "scale",
            "Scale: many clusters at once",
            parameters,
            sizes,
            targets,
            load_before,
            [
                "baseline first, then the operator, per size; each from an empty namespace",
                "operator CPU seconds counted from its idle start-up to all Ready",
            ],
        )
    ]
    if restart:
        records.append(
            context.record(
                "restart",
                "Restart among converged clusters",
                {
                    "clusters": restart["clusters"],
                    "with_setup_package": SETUP_CLUSTERS,
                    "idle": "the work queue empty and no worker busy (the operator's "
                    f"metrics, when served) and no request but watches for {QUIET:.0f} s "
                    f"(audit log), after its first request; the one-off resync LIST at "
                    f"{RESYNC_AFTER:.0f} s is not waited for",
                    "operator": profile.settings(),
                },
                restart,
                [
                    Target(
                        name=f"restart with {restart['clusters']} converged clusters: idle",
                        target="<= 10 s",
                        measured=f"{restart['seconds_to_idle']:.1f} s",
                        met=restart["seconds_to_idle"] <= 10,
                    ),
                    Target(
                        name="restart: writes, hooks re-run",
                        target="0, 0",
                        measured=f"{restart['writes']}, {restart['hooks_rerun']}",
                        met=restart["writes"] == 0 and restart["hooks_rerun"] == 0,
                    ),
                ],
                restart_load,
                ["time to idle counted from the new process's start (Python start-up included)"],
            )
        )
    return records
