"""Scenarios 1 and 2: time to Ready, operator against baseline, without and with setup.

For each size N (1 controller + N workers) and each repetition, three arms run
back to back, their order rotated from one repetition to the next so that
machine noise falls on all of them alike:

* **baseline**: the objects ``kubedirector render`` prints for the cluster,
  applied one by one as admin (as ``kubectl apply -f`` would), until the N+1
  pods are Ready;
* **operator**: the KubeDirectorCluster applied, until the operator reports it
  Ready (every member configured);
* **setup**: the same with an app whose setup package's startscript does
  nothing, so only the exec round trips are added.

The clock starts before the first request and stops when a watch sees the
state awaited. Between runs everything is deleted and the pods are gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks import machine
from benchmarks.harness import APP, bench_app, bench_cluster, rendered
from benchmarks.records import Record, Target
from benchmarks.scenarios import Context
from benchmarks.stats import median, paired_ratios, ratio

BASE_NS = "ovh-base"
#: The operator and setup arms share one namespace: the operator then watches only it.
OPERATOR_NS = SETUP_NS = "ovh-op"
ARMS = ("baseline", "operator", "setup")
TIMEOUT = 600.0
RATIO_TARGET = 1.05


def _baseline_run(context: Context, workers: int, name: str) -> float:
    bench = context.bench
    objects = rendered(bench_app(APP), [bench_cluster(name, workers)], BASE_NS)
    started = time.monotonic()
    for body in objects:
        bench.apply(body, BASE_NS)
    ready = bench.wait_pods_ready(
        BASE_NS, workers + 1, TIMEOUT, label_selector=f"kubedirector.hpe.com/kdcluster={name}"
    )
    elapsed = ready - started
    bench.clear_baseline(BASE_NS)
    return elapsed


def _operator_run(context: Context, workers: int, name: str, namespace: str, app: str) -> float:
    bench = context.bench
    started = time.monotonic()
    bench.apply(bench_cluster(name, workers, app), namespace)
    ready = bench.wait_clusters_ready(namespace, 1, TIMEOUT)
    elapsed = ready - started
    bench.delete_cluster(namespace, name)
    return elapsed


def measure(context: Context) -> dict[int, dict[str, list[float]]]:
    """Samples (seconds) per size and arm, arms interleaved and rotated."""
    bench = context.bench
    for namespace in (BASE_NS, OPERATOR_NS):
        bench.namespace(namespace)
    app = bench.install_app(OPERATOR_NS, with_setup=False)
    setup_app = bench.install_app(SETUP_NS, with_setup=True)
    arms: dict[str, Callable[[int, str], float]] = {
        "baseline": lambda n, name: _baseline_run(context, n, name),
        "operator": lambda n, name: _operator_run(context, n, name, OPERATOR_NS, app),
        "setup": lambda n, name: _operator_run(context, n, name, SETUP_NS, setup_app),
    }
    samples: dict[int, dict[str, list[float]]] = {}
    with bench.running([OPERATOR_NS], context.profile.operator_args()):
        for arm in ARMS:  # warm-up, not recorded: imports, first connections, caches
            arms[arm](1, f"warm-{arm}")
        for workers in context.profile.overhead_workers:
            samples[workers] = {arm: [] for arm in ARMS}
            for repetition in range(context.profile.repetitions):
                shift = repetition % len(ARMS)
                for arm in ARMS[shift:] + ARMS[:shift]:
                    name = f"n{workers}-{arm[:3]}-{repetition}"
                    samples[workers][arm].append(round(arms[arm](workers, name), 3))
                    print(
                        f"  N={workers} {arm:<8} run {repetition + 1}: "
                        f"{samples[workers][arm][-1]:.2f}s",
                        flush=True,
                    )
    return samples


def run(context: Context) -> list[Record]:
    """Run scenarios 1 and 2 together; return their two records."""
    load_before = machine.load_average()
    samples = measure(context)
    parameters = {
        "workers_per_cluster": list(context.profile.overhead_workers),
        "controllers_per_cluster": 1,
        "repetitions": context.profile.repetitions,
        "order": "arms rotated per repetition: baseline, operator, setup",
        "operator": context.profile.settings(),
        "member_resources": {"cpu": "10m", "memory": "16Mi"},
    }
    overhead_figures: dict[str, object] = {}
    setup_figures: dict[str, object] = {}
    targets = []
    for workers, arms in samples.items():
        base, operator, with_setup = (median(arms[a]) for a in ARMS)
        members = workers + 1
        overhead_figures[str(workers)] = {
            "members": members,
            "baseline_seconds": arms["baseline"],
            "operator_seconds": arms["operator"],
            "baseline_median": round(base, 3),
            "operator_median": round(operator, 3),
            "ratio_of_medians": round(ratio(operator, base), 3),
            "median_paired_ratio": round(
                median(paired_ratios(arms["operator"], arms["baseline"])), 3
            ),
        }
        extra = with_setup - operator
        setup_figures[str(workers)] = {
            "members": members,
            "setup_seconds": arms["setup"],
            "operator_seconds": arms["operator"],
            "setup_median": round(with_setup, 3),
            "operator_median": round(operator, 3),
            "extra_seconds": round(extra, 3),
            "extra_per_member_seconds": round(extra / members, 3),
        }
        if workers >= 10:
            measured = ratio(operator, base)
            targets.append(
                Target(
                    name=f"overhead to Ready, N={workers}",
                    target=f"ratio <= {RATIO_TARGET}",
                    measured=f"{measured:.2f} ({operator:.2f}s vs {base:.2f}s)",
                    met=measured <= RATIO_TARGET,
                )
            )
    overhead = context.record(
        "overhead",
        "Overhead to Ready (operator vs baseline)",
        parameters,
        overhead_figures,
        targets,
        load_before,
        ["baseline: the objects `kubedirector render` prints, applied one at a time as admin"],
    )
    setup = context.record(
        "setup",
        "Setup cost per member (no-op startscript)",
        parameters,
        setup_figures,
        [],
        load_before,
        ["extra = median(setup arm) - median(operator arm) of the same run; per member = /(N+1)"],
    )
    return [overhead, setup]
