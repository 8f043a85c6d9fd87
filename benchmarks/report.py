"""Turning records into what people read: a table, plots, the README's Performance section.

Everything here is pure except :func:`draw_plots` (matplotlib, imported only
there) and :func:`update_readme` (one file write).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.records import Record

START_MARKER = "<!-- benchmarks:start -->"
END_MARKER = "<!-- benchmarks:end -->"
OVERHEAD_PLOT = "overhead.png"
SCALE_PLOT = "scale.png"


class ReportError(ValueError):
    """The README cannot take the section (markers missing or out of order)."""


def _gib(count: int) -> str:
    return f"{count / 1024**3:.0f} GiB"


def _by_scenario(records: Sequence[Record]) -> dict[str, Record]:
    return {record.scenario: record for record in records}


def _rows(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return lines


def figure_rows(records: Sequence[Record]) -> list[tuple[str, str, str]]:
    """``(scenario, what, value)`` rows of the headline figures of each record."""
    rows: list[tuple[str, str, str]] = []
    found = _by_scenario(records)
    if "overhead" in found:
        for size, figures in found["overhead"].figures.items():
            rows.append(
                (
                    "overhead",
                    f"N={size}: operator / baseline (median s)",
                    f"{figures['operator_median']:.2f} / {figures['baseline_median']:.2f} "
                    f"= {figures['ratio_of_medians']:.2f}",
                )
            )
    if "setup" in found:
        for size, figures in found["setup"].figures.items():
            rows.append(
                (
                    "setup",
                    f"N={size}: extra per member",
                    f"{figures['extra_per_member_seconds'] * 1000:.0f} ms",
                )
            )
    if "apicalls" in found:
        for phase, figures in found["apicalls"].figures.items():
            rows.append(
                (
                    "apicalls",
                    phase,
                    f"{figures['writes']} writes, {figures['lists']} lists, "
                    f"{figures['execs']} execs, {figures['total']} requests",
                )
            )
    if "scale" in found:
        for size, arms in found["scale"].figures.items():
            operator, baseline = arms["operator"], arms["baseline"]
            rows.append(
                (
                    "scale",
                    f"{size} clusters: Ready (operator / baseline)",
                    f"{operator['ready_seconds']:.1f} s / {baseline['ready_seconds']:.1f} s",
                )
            )
            rows.append(
                (
                    "scale",
                    f"{size} clusters: operator peak RSS, CPU",
                    f"{operator['operator_peak_rss_mib']} MiB, "
                    f"{operator['operator_cpu_seconds']} s",
                )
            )
    if "restart" in found:
        figures = found["restart"].figures
        rows.append(
            (
                "restart",
                f"{figures['clusters']} clusters: idle, writes, hooks",
                f"{figures['seconds_to_idle']:.1f} s, {figures['writes']}, "
                f"{figures['hooks_rerun']}",
            )
        )
    if "nodedown" in found:
        figures = found["nodedown"].figures
        replaced = figures["replaced_seconds"]
        rows.append(
            (
                "nodedown",
                f"{figures['members']} members replaced (p50/p99/max)",
                f"{replaced['p50']:.1f} / {replaced['p99']:.1f} / {replaced['max']:.1f} s",
            )
        )
    return rows


def text_table(records: Sequence[Record]) -> str:
    """The figures and the targets as two aligned plain-text tables."""
    lines = _rows(("scenario", "figure", "value"), figure_rows(records))
    targets = [
        (t.name, t.target, t.measured, "yes" if t.met else "NO")
        for record in records
        for t in record.targets
    ]
    if targets:
        lines += ["", *_rows(("target", "goal", "measured", "met"), targets)]
    return "\n".join(lines)


def _environment(records: Sequence[Record]) -> tuple[str, str]:
    first = records[0].environment
    machine, versions = first["machine"], first["versions"]
    size = f"{machine['cores']} cores, {_gib(int(machine['memory_bytes']))}"
    if machine.get("cpu_model"):
        size += f" ({machine['cpu_model']})"
    names = ("kubernetes", "etcd", "kwok", "python", "operator")
    return size, ", ".join(f"{name} {versions.get(name, '?')}" for name in names)


def markdown_section(
    records: Sequence[Record],
    plots: Sequence[str] = (),
    analysis: str = "",
    run: dict[str, Any] | None = None,
) -> str:
    """The README's Performance section (without the markers), from the records.

    ``plots`` are image paths relative to the README; ``analysis`` is a
    hand-written paragraph on what limits a missed target (from a profile);
    ``run`` is the last complete run's ``run.json`` (profile and seconds).
    """
    if not records:
        raise ReportError("no records to report; run `kubedirector bench` first")
    size, versions = _environment(records)
    dates = sorted(record.date for record in records)
    profiles = sorted({record.profile for record in records})
    lines = [
        "`kubedirector bench` starts a control plane of its own, runs the operator as a "
        "subprocess and measures it against a baseline in the same run (the objects "
        "`kubedirector render` prints, applied directly); `--quick` for a first look, "
        "`--scale-max` for 500 and 1,000 clusters. `kubedirector bench report --readme` "
        "writes this section from the records. How each figure is measured: "
        "`benchmarks/README.md`.",
        "",
        f"Measured with `kubedirector bench` ({', '.join(profiles)} profile) on "
        f"{dates[0][:10]}{'' if dates[0][:10] == dates[-1][:10] else ' to ' + dates[-1][:10]}, "
        f"on {size}; {versions}. The records are in `benchmarks/results/`.",
    ]
    if run is not None:
        lines.append(
            f"The whole suite ({run['profile']} profile) took {int(run['seconds']) // 60} min "
            f"{int(run['seconds']) % 60} s."
        )
    lines += [
        "",
        "| target | goal | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    for record in records:
        for target in record.targets:
            met = "yes" if target.met else "**no**"
            lines.append(f"| {target.name} | {target.target} | {target.measured} | {met} |")
    lines += ["", "| scenario | figure | value |", "| --- | --- | --- |"]
    lines += [f"| {s} | {f} | {v} |" for s, f, v in figure_rows(records)]
    for plot in plots:
        lines += ["", f"![{Path(plot).stem}]({plot})"]
    if analysis.strip():
        lines += ["", analysis.strip()]
    return "\n".join(lines) + "\n"


def replace_section(readme: str, section: str) -> str:
    """``readme`` with the text between the benchmark markers replaced by ``section``."""
    start, end = readme.find(START_MARKER), readme.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ReportError(
            f"the README needs the lines {START_MARKER} and {END_MARKER} (in that order) "
            "around its Performance section"
        )
    return readme[: start + len(START_MARKER)] + "\n" + section + readme[end:]


def update_readme(readme: Path, section: str) -> None:
    """Write ``section`` between the markers of ``readme``."""
    readme.write_text(replace_section(readme.read_text(), section))


def overhead_curves(record: Record) -> dict[str, list[float]]:
    """Members, and the median seconds of each arm by size, from an overhead record."""
    sizes = sorted(record.figures, key=int)
    return {
        "members": [float(record.figures[s]["members"]) for s in sizes],
        "baseline": [float(record.figures[s]["baseline_median"]) for s in sizes],
        "operator": [float(record.figures[s]["operator_median"]) for s in sizes],
    }


def draw_plots(records: Sequence[Record], folder: Path) -> list[Path]:
    """Draw the overhead (and scale) plots as PNGs in ``folder``; return their paths.

    Needs matplotlib (``pip install kubedirector-core[bench]``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = _by_scenario(records)
    drawn: list[Path] = []
    if "overhead" in found:
        curves = overhead_curves(found["overhead"])
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(curves["members"], curves["baseline"], "o-", label="baseline (render + apply)")
        axes.plot(curves["members"], curves["operator"], "s-", label="operator")
        if "setup" in found:
            setup = [
                float(found["setup"].figures[s]["setup_median"])
                for s in sorted(found["setup"].figures, key=int)
            ]
            axes.plot(curves["members"], setup, "^--", label="operator + no-op setup")
        axes.set_xlabel("members (1 controller + N workers)")
        axes.set_ylabel("seconds to Ready (median)")
        axes.set_title("Time to Ready: operator vs baseline")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = folder / OVERHEAD_PLOT
        figure.savefig(path, dpi=100)
        plt.close(figure)
        drawn.append(path)
    if "scale" in found:
        sizes = sorted(found["scale"].figures, key=int)
        arms: dict[str, Any] = found["scale"].figures
        figure, axes = plt.subplots(figsize=(6, 4))
        clusters = [int(s) for s in sizes]
        axes.plot(
            clusters, [arms[s]["baseline"]["ready_seconds"] for s in sizes], "o-", label="baseline"
        )
        axes.plot(
            clusters, [arms[s]["operator"]["ready_seconds"] for s in sizes], "s-", label="operator"
        )
        axes.set_xlabel("clusters (3 members each)")
        axes.set_ylabel("seconds until all Ready")
        axes.set_title("Scale: time until every cluster is Ready")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = folder / SCALE_PLOT
        figure.savefig(path, dpi=100)
        plt.close(figure)
        drawn.append(path)
    return drawn
