"""Records round-trip, bad records are named, and the report says what was measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks import report
from benchmarks.records import Record, RecordError, Target, load_record, load_records
from kubedirector_core.cli import main

ENVIRONMENT = {
    "machine": {"cores": 2, "memory_bytes": 24 * 1024**3, "cpu_model": "Test CPU"},
    "versions": {
        "kubernetes": "v1.36.3",
        "etcd": "v3.6.8",
        "kwok": "v0.8.0",
        "python": "3.11.7",
        "operator": "0.1.0 (abc1234)",
    },
}


def overhead_record() -> Record:
    figures = {
        size: {
            "members": int(size) + 1,
            "baseline_seconds": [base, base],
            "operator_seconds": [op, op],
            "baseline_median": base,
            "operator_median": op,
            "ratio_of_medians": round(op / base, 3),
            "median_paired_ratio": round(op / base, 3),
        }
        # "10" sorts before "5" as text: the curves must follow the numbers.
        for size, base, op in (("10", 0.6, 1.7), ("1", 0.2, 0.3), ("5", 0.4, 0.9))
    }
    return Record(
        scenario="overhead",
        title="Overhead to Ready",
        date="2026-11-22T08:00:00+00:00",
        profile="quick",
        parameters={"repetitions": 2},
        figures=figures,
        environment=ENVIRONMENT,
        targets=[
            Target("overhead to Ready, N=10", "ratio <= 1.05", "2.83 (1.70s vs 0.60s)", False)
        ],
    )


def nodedown_record() -> Record:
    return Record(
        scenario="nodedown",
        title="Node-down",
        date="2026-11-22T08:20:00+00:00",
        profile="quick",
        parameters={},
        figures={
            "members": 10,
            "method": "Node deleted",
            "replaced_seconds": {"count": 10, "min": 1.0, "p50": 2.0, "p99": 3.5, "max": 3.5},
            "all_clusters_ready_again_seconds": 4.0,
            "samples": [],
        },
        environment=ENVIRONMENT,
        targets=[Target("node-down: 10 members replaced", "p99 <= 11 s", "p99 3.5 s", True)],
    )


def test_a_record_round_trips_through_its_file(tmp_path: Path) -> None:
    record = overhead_record()
    path = record.write(tmp_path)
    assert path.name == "overhead.json"
    loaded = load_record(path)
    assert loaded == record
    assert load_records(tmp_path) == [record]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("figures"), "missing field 'figures'"),
        (lambda d: d.update(schema=2), "schema 2 is not 1"),
        (lambda d: d.update(scenario="speed"), "scenario 'speed' is none of"),
        (lambda d: d["environment"].pop("versions"), "environment.versions is missing"),
        (lambda d: d["targets"][0].pop("met"), r"targets\[0\] needs exactly"),
        (lambda d: d.update(notes="x"), "field 'notes' has the wrong type"),
    ],
)
def test_a_bad_record_is_refused_naming_the_field(
    tmp_path: Path, change: object, message: str
) -> None:
    data = overhead_record().to_json()
    assert callable(change)
    change(data)
    path = tmp_path / "overhead.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=message):
        load_record(path)


def test_no_records_tells_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="run `kubedirector bench --out"):
        load_records(tmp_path)


def test_the_section_shows_targets_figures_machine_versions_and_plot() -> None:
    section = report.markdown_section(
        [overhead_record(), nodedown_record()],
        ["benchmarks/results/overhead.png"],
        "What limits it: the status writes.",
        {"profile": "default", "seconds": 1534, "finished": "2026-11-22T08:30:00+00:00"},
    )
    assert "The whole suite (default profile) took 25 min 34 s." in section
    assert "on 2026-11-22, on 2 cores, 24 GiB (Test CPU)" in section
    assert "kubernetes v1.36.3, etcd v3.6.8, kwok v0.8.0, python 3.11.7" in section
    assert "| overhead to Ready, N=10 | ratio <= 1.05 | 2.83 (1.70s vs 0.60s) | **no** |" in section
    assert "| node-down: 10 members replaced | p99 <= 11 s | p99 3.5 s | yes |" in section
    assert "| overhead | N=10: operator / baseline (median s) | 1.70 / 0.60 = 2.83 |" in section
    assert "| nodedown | 10 members replaced (p50/p99/max) | 2.0 / 3.5 / 3.5 s |" in section
    assert "![overhead](benchmarks/results/overhead.png)" in section
    assert section.rstrip().endswith("What limits it: the status writes.")


def test_the_readme_section_is_replaced_between_the_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\n## Performance\n\n{report.START_MARKER}\nold numbers\n"
        f"{report.END_MARKER}\n\n## Layout\nkept\n"
    )
    report.update_readme(readme, "new numbers\n")
    text = readme.read_text()
    assert "old numbers" not in text
    assert f"{report.START_MARKER}\nnew numbers\n{report.END_MARKER}" in text
    assert text.startswith("# Title\n")
    assert text.endswith("## Layout\nkept\n")
    with pytest.raises(report.ReportError, match="needs the lines"):
        report.replace_section("# no markers\n", "x")


def test_curves_follow_the_sizes_in_numeric_order() -> None:
    curves = report.overhead_curves(overhead_record())
    assert curves == {
        "members": [2.0, 6.0, 11.0],
        "baseline": [0.2, 0.4, 0.6],
        "operator": [0.3, 0.9, 1.7],
    }


def test_text_table_marks_missed_targets() -> None:
    table = report.text_table([overhead_record()])
    row = next(line for line in table.splitlines() if line.startswith("overhead to Ready"))
    assert row.split()[-1] == "NO"
    header = table.splitlines()[0]
    assert header.split() == ["scenario", "figure", "value"]


def test_the_overhead_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    [path] = report.draw_plots([overhead_record()], tmp_path)
    assert path.name == "overhead.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_report_prints_the_section_from_records(tmp_path: Path) -> None:
    overhead_record().write(tmp_path)
    result = CliRunner().invoke(main, ["bench", "report", "--records", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| overhead to Ready, N=10 | ratio <= 1.05 |" in result.output


def test_bench_report_without_records_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "report", "--records", str(tmp_path)])
    assert result.exit_code == 1
    assert "no benchmark records in" in result.output
