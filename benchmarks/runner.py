"""Run the suite: one control plane of its own, the chosen scenarios, records, table, plots.

``run_suite`` is what ``kubedirector bench`` calls. Scenarios 1 and 2 run
together (their arms interleave), as do 4 and 5 (the restart happens among the
largest size's clusters); asking for one of a pair runs both.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report
from benchmarks.harness import CHECKOUT, Bench
from benchmarks.machine import now_iso
from benchmarks.records import SCENARIOS, Record, load_records
from benchmarks.scenarios import DEFAULT, QUICK, SCALE_MAX, Context, Profile

#: Fake nodes for scenarios 1 to 3 (scenario 4 adds up to its profile's count).
SMALL_NODES = 4
README = CHECKOUT / "README.md"
ANALYSIS = "analysis.md"
#: How long the last complete run of the suite took (written only when every scenario ran).
RUN_FILE = "run.json"

_GROUPS = (
    (("overhead", "setup"), "benchmarks.scenarios.overhead"),
    (("apicalls",), "benchmarks.scenarios.apicalls"),
    (("scale", "restart"), "benchmarks.scenarios.scale"),
    (("nodedown",), "benchmarks.scenarios.nodedown"),
)


def choose_profile(quick: bool, scale_max: bool) -> Profile:
    """The quick or default profile; ``scale_max`` adds 500 and 1,000 clusters to scenario 4."""
    from dataclasses import replace

    profile = QUICK if quick else DEFAULT
    if scale_max:
        sizes = tuple(sorted({*profile.scale_sizes, *SCALE_MAX}))
        profile = replace(profile, scale_sizes=sizes, scale_nodes=100)
    return profile


def run_suite(
    out: Path,
    quick: bool = False,
    scenarios: Sequence[str] = (),
    scale_max: bool = False,
    profile_operator: bool = False,
    keep: bool = False,
) -> list[Record]:
    """Run the scenarios (all when none named), write a record per scenario into ``out``."""
    import importlib

    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from {SCENARIOS}")
    wanted = set(scenarios or SCENARIOS)
    profile = choose_profile(quick, scale_max)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kd-bench-"))
    bench = Bench(work, SMALL_NODES)
    records: list[Record] = []
    started = time.monotonic()
    print(f"kubedirector bench: {profile.name} profile, work folder {work}", flush=True)
    try:
        bench.up()
        context = Context(bench, profile, out, profile_operator=profile_operator)
        for names, module in _GROUPS:
            if not wanted & set(names):
                continue
            print(f"== {' + '.join(names)}", flush=True)
            group_started = time.monotonic()
            for record in importlib.import_module(module).run(context):
                record.parameters["scenario_seconds"] = round(time.monotonic() - group_started)
                path = record.write(out)
                records.append(record)
                print(f"   wrote {path}", flush=True)
    finally:
        bench.down()
        if keep:
            print(f"kept the work folder {work} (operator logs)", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    print(f"\nsuite finished in {seconds:.0f}s\n", flush=True)
    if wanted == set(SCENARIOS):
        run = {"profile": profile.name, "seconds": round(seconds), "finished": now_iso()}
        (out / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n")
    all_records = load_records(out)
    print(report.text_table(all_records))
    try:
        for path in report.draw_plots(all_records, out):
            print(f"plot: {path}")
    except ImportError:
        print("no plots: matplotlib is missing (pip install 'kubedirector-core[bench]')")
    return records


def write_report(records_dir: Path, readme: Path | None) -> str:
    """The Performance section from the records in ``records_dir``; into ``readme`` if given."""
    records = load_records(records_dir)
    plots = []
    base = readme.parent if readme is not None else CHECKOUT
    for name in (report.OVERHEAD_PLOT, report.SCALE_PLOT):
        if (records_dir / name).exists():
            plots.append(_relative(records_dir / name, base))
    analysis_file = records_dir / ANALYSIS
    analysis = analysis_file.read_text() if analysis_file.exists() else ""
    run_file = records_dir / RUN_FILE
    run = json.loads(run_file.read_text()) if run_file.exists() else None
    section = report.markdown_section(records, plots, analysis, run)
    if readme is not None:
        report.update_readme(readme, section)
    return section


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
