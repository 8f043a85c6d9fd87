"""One JSON record per scenario run: what was measured, how, and on what.

A record file ``<scenario>.json`` holds::

    {
      "schema": 1,
      "scenario": "overhead",            # one of SCENARIOS
      "title": "Overhead to Ready",
      "date": "2026-11-22T08:10:00+00:00",
      "profile": "default",              # or "quick"
      "parameters": {...},                # sizes, repetitions, operator settings
      "figures": {...},                   # the measurements (samples included)
      "targets": [                        # the issue's targets, measured
        {"name": ..., "target": ..., "measured": ..., "met": true}
      ],
      "environment": {
        "machine": {"cores": 2, "memory_bytes": ..., "load_before": [...], "load_after": [...]},
        "versions": {"kubernetes": ..., "etcd": ..., "kwok": ..., "python": ..., "operator": ...}
      },
      "notes": [...]                      # how it was measured where that matters
    }

:func:`load_record` checks this shape and names the first field that is wrong.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubedirector_core.cli.bench import SCENARIOS

__all__ = ["SCENARIOS", "SCHEMA", "Record", "RecordError", "Target", "load_record", "load_records"]

SCHEMA = 1


class RecordError(ValueError):
    """A record file does not have the shape :mod:`benchmarks.records` describes."""


@dataclass
class Target:
    """A target from the issue and what was measured against it."""

    name: str
    target: str
    measured: str
    met: bool


@dataclass
class Record:
    """The result of one scenario."""

    scenario: str
    title: str
    date: str
    profile: str
    parameters: dict[str, Any]
    figures: dict[str, Any]
    environment: dict[str, Any]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema: int = SCHEMA

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)

    def write(self, folder: Path) -> Path:
        """Write ``<folder>/<scenario>.json`` and return its path."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.scenario}.json"
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
        return path


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "scenario": str,
    "title": str,
    "date": str,
    "profile": str,
    "parameters": dict,
    "figures": dict,
    "environment": dict,
    "targets": list,
    "notes": list,
}


def record_from_json(data: object, source: str = "record") -> Record:
    """Check ``data`` against the record shape and build the :class:`Record`.

    Raises :class:`RecordError` naming ``source`` and the offending field.
    """
    if not isinstance(data, dict):
        raise RecordError(f"{source}: a record is a JSON object, got {type(data).__name__}")
    for name, kind in _REQUIRED.items():
        if name not in data:
            raise RecordError(f"{source}: missing field {name!r}; re-run the scenario")
        if not isinstance(data[name], kind):
            raise RecordError(f"{source}: field {name!r} has the wrong type")
    if data["schema"] != SCHEMA:
        raise RecordError(
            f"{source}: schema {data['schema']} is not {SCHEMA}; re-run the scenario with "
            "this version of the suite"
        )
    if data["scenario"] not in SCENARIOS:
        raise RecordError(
            f"{source}: scenario {data['scenario']!r} is none of {', '.join(SCENARIOS)}"
        )
    for section in ("machine", "versions"):
        if not isinstance(data["environment"].get(section), dict):
            raise RecordError(f"{source}: environment.{section} is missing")
    targets = []
    for index, raw in enumerate(data["targets"]):
        if not isinstance(raw, dict) or set(raw) != {"name", "target", "measured", "met"}:
            raise RecordError(
                f"{source}: targets[{index}] needs exactly name, target, measured and met"
            )
        targets.append(Target(**raw))
    fields = {k: v for k, v in data.items() if k != "targets"}
    return Record(**fields, targets=targets)


def load_record(path: Path) -> Record:
    """Read and check one record file."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not JSON: {error}") from error
    return record_from_json(data, str(path))


def load_records(folder: Path) -> list[Record]:
    """Every record in ``folder``, in scenario order; raises :class:`RecordError` if none."""
    found = {path.stem: path for path in folder.glob("*.json") if path.stem in SCENARIOS}
    if not found:
        raise RecordError(
            f"no benchmark records in {folder}; run `kubedirector bench --out {folder}` first"
        )
    return [load_record(found[name]) for name in SCENARIOS if name in found]
