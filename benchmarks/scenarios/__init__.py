"""The scenarios of issue #10; each module's ``run(context)`` returns its records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.harness import Bench
from benchmarks.records import Record, Target


@dataclass(frozen=True)
class Profile:
    """Sizes and durations of one run of the suite."""

    name: str
    #: Workers per cluster in scenarios 1 and 2 (plus one controller).
    overhead_workers: tuple[int, ...]
    #: Runs of each arm per size (interleaved); the median is reported.
    repetitions: int
    #: Seconds the converged window of scenario 3 lasts.
    converged_seconds: float
    #: Cluster counts of scenario 4; scenario 5 restarts with the largest.
    scale_sizes: tuple[int, ...]
    #: KWOK nodes for scenarios 4 to 6.
    scale_nodes: int
    #: Clusters with a member on the failing node in scenario 6.
    nodedown_clusters: int
    #: ``kubedirector run --workers`` and ``--action-concurrency``.
    operator_workers: int = 4
    action_concurrency: int = 8

    def operator_args(self) -> list[str]:
        """The operator's command-line settings for this profile."""
        return [
            "--workers",
            str(self.operator_workers),
            "--action-concurrency",
            str(self.action_concurrency),
        ]

    def settings(self) -> dict[str, Any]:
        """The operator settings, as a record's parameters show them."""
        return {"workers": self.operator_workers, "action_concurrency": self.action_concurrency}


QUICK = Profile(
    name="quick",
    overhead_workers=(1, 10),
    repetitions=2,
    converged_seconds=60,
    scale_sizes=(20,),
    scale_nodes=10,
    nodedown_clusters=10,
)
DEFAULT = Profile(
    name="default",
    overhead_workers=(1, 10, 50),
    repetitions=3,
    converged_seconds=120,
    scale_sizes=(100, 250),
    scale_nodes=100,
    nodedown_clusters=100,
)
#: Added to the scale sizes by ``--scale-max`` (beyond the default's 30 minutes).
SCALE_MAX = (500, 1000)


@dataclass
class Context:
    """What every scenario gets: the bench, the profile, where to keep raw files."""

    bench: Bench
    profile: Profile
    out: Path
    profile_operator: bool = False

    def record(
        self,
        scenario: str,
        title: str,
        parameters: dict[str, Any],
        figures: dict[str, Any],
        targets: list[Target],
        load_before: list[float],
        notes: list[str] | None = None,
    ) -> Record:
        """A record stamped with the date, the machine and the versions."""
        return Record(
            scenario=scenario,
            title=title,
            date=machine.now_iso(),
            profile=self.profile.name,
            parameters=parameters,
            figures=figures,
            targets=targets,
            environment={
                "machine": {
                    **machine.machine(),
                    "load_before": load_before,
                    "load_after": machine.load_average(),
                },
                "versions": self.bench.versions(),
            },
            notes=list(notes or []),
        )
