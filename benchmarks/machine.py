"""What the measurements ran on, and what a process cost: read from ``/proc``."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessCost:
    """CPU seconds (user + system) and peak resident memory of one process."""

    cpu_seconds: float
    peak_rss_bytes: int
    rss_bytes: int


def parse_status_kib(status: str, field: str) -> int:
    """Bytes of a ``/proc/<pid>/status`` field given in kB (``VmHWM``, ``VmRSS``).

    Raises ``ValueError`` naming the field when it is absent.
    """
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            value, unit = line.split(":", 1)[1].split()
            if unit != "kB":
                raise ValueError(f"{field} is in {unit}, expected kB")
            return int(value) * 1024
    raise ValueError(f"/proc status has no {field} line")


def parse_stat_cpu(stat: str) -> float:
    """CPU seconds (utime + stime) from a ``/proc/<pid>/stat`` line.

    The command name (field 2) may hold spaces and parentheses: fields are
    counted after its last ``)``.
    """
    after = stat.rsplit(")", 1)[1].split()
    # after[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(after[11]) + int(after[12])) / _CLOCK_TICKS


def process_cost(pid: int) -> ProcessCost:
    """The process's cost so far; raises ``ProcessLookupError`` when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError as error:
        raise ProcessLookupError(f"process {pid} is gone") from error
    return ProcessCost(
        cpu_seconds=parse_stat_cpu(stat),
        peak_rss_bytes=parse_status_kib(status, "VmHWM"),
        rss_bytes=parse_status_kib(status, "VmRSS"),
    )


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by the processes still alive among ``pids``."""
    total = 0.0
    for pid in pids:
        try:
            total += parse_stat_cpu(Path(f"/proc/{pid}/stat").read_text())
        except FileNotFoundError:
            continue
    return total


def memory_total_bytes(meminfo: str | None = None) -> int:
    """``MemTotal`` of ``/proc/meminfo`` in bytes."""
    text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    return parse_status_kib(text, "MemTotal")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine shows here)."""
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model and current load of this machine."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count() or 0,
        "memory_bytes": memory_total_bytes(),
        "cpu_model": model,
        "kernel": platform.release(),
    }


def operator_version(checkout: Path) -> str:
    """The package version, with the checkout's commit when it is a git work tree."""
    from kubedirector_core import __version__

    try:
        commit = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__} ({commit})"


def versions(control_plane_versions: dict[str, str], checkout: Path) -> dict[str, str]:
    """Versions of Kubernetes, etcd, KWOK (as the control plane recorded), Python, operator."""
    return {
        "kubernetes": control_plane_versions.get("kubernetes", "?"),
        "etcd": control_plane_versions.get("etcd", "?"),
        "kwok": control_plane_versions.get("kwok", "?"),
        "python": platform.python_version(),
        "operator": operator_version(checkout),
    }


def now_iso() -> str:
    """The current UTC time, to the second, ISO 8601."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
