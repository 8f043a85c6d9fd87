"""``kubedirector bench``: the benchmark suite (``benchmarks/`` of a source checkout).

The suite itself is not part of the installed package: this command finds the
``benchmarks`` folder next to ``kubedirector_core`` (an editable install of the
checkout) and imports it only when run, so other commands never pay for it.
``python -m benchmarks`` from the checkout runs the same command.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import click

#: The scenarios of issue #10, in the order they run.
SCENARIOS = ("overhead", "setup", "apicalls", "scale", "restart", "nodedown")
_CHECKOUT = Path(__file__).resolve().parents[2]


def _suite() -> ModuleType:
    """The suite's runner module, imported from the checkout."""
    if not (_CHECKOUT / "benchmarks" / "runner.py").is_file():
        raise click.ClickException(
            f"no benchmarks/ folder in {_CHECKOUT}: `kubedirector bench` runs from a source "
            "checkout installed with `pip install -e '.[bench]'`"
        )
    if str(_CHECKOUT) not in sys.path:
        sys.path.insert(0, str(_CHECKOUT))
    return importlib.import_module("benchmarks.runner")


@click.group(invoke_without_command=True)
@click.option("--quick", is_flag=True, help="Small sizes: a first look in a few minutes.")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(SCENARIOS),
    help="Run only this scenario (repeatable). Default: all.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the JSON records and plots (default: benchmarks/results of the checkout).",
)
@click.option("--scale-max", is_flag=True, help="Add 1,000 clusters to the scale scenario (long).")
@click.option(
    "--profile-operator",
    is_flag=True,
    help="Sample the operator with py-spy during the largest scale run.",
)
@click.option("--keep", is_flag=True, help="Keep the work folder (operator logs) afterwards.")
@click.pass_context
def bench(
    context: click.Context,
    quick: bool,
    scenarios: tuple[str, ...],
    out: Path | None,
    scale_max: bool,
    profile_operator: bool,
    keep: bool,
) -> None:
    """Measure the operator against bare Kubernetes on a control plane of its own.

    Writes one JSON record per scenario, prints a table and draws the plots.
    `kubedirector bench report --readme` puts them into the README.
    """
    if context.invoked_subcommand is not None:
        return
    _suite().run_suite(
        out or _CHECKOUT / "benchmarks" / "results",
        quick=quick,
        scenarios=scenarios,
        scale_max=scale_max,
        profile_operator=profile_operator,
        keep=keep,
    )


@bench.command()
@click.option(
    "--records",
    "records_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Folder of the records (default: benchmarks/results of the checkout).",
)
@click.option("--readme", is_flag=True, help="Write the section into the README's markers.")
def report(records_dir: Path | None, readme: bool) -> None:
    """Print the README's Performance section from the records (or write it with --readme)."""
    suite = _suite()
    records = importlib.import_module("benchmarks.records")
    reporting = importlib.import_module("benchmarks.report")
    try:
        section = suite.write_report(
            records_dir or _CHECKOUT / "benchmarks" / "results",
            _CHECKOUT / "README.md" if readme else None,
        )
    except (records.RecordError, reporting.ReportError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(section, nl=False)
