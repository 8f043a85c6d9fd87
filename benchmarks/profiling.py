"""Sampling the operator with py-spy during a scenario, and reading the samples.

``py-spy record --format raw`` writes collapsed stacks: one line per distinct
stack, frames from the outermost to the innermost separated by ``;``, then a
space and the number of samples. :func:`summarize` turns them into the share
of samples each function is on top of (self) and anywhere in (inclusive).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

#: Frames of the operator's own code contain this path.
CORE = "kubedirector_core/"
#: The operator's outermost frames: in every sample, so they say nothing.
_OUTER_FRAMES = ("kubedirector_core/cli/", "kubedirector_core/__main__", "run_operator (")


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """``(frames outermost first, samples)`` of every stack.

    A frame name may hold a line break (py-spy writes it as is): a line that
    does not end in a count continues on the next one. Raises ``ValueError``
    when the text ends inside a stack.
    """
    stacks = []
    pending = ""
    for line in text.splitlines():
        if not pending and not line.strip():
            continue
        pending = f"{pending}\\n{line}" if pending else line
        stack, _, count = pending.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
            pending = ""
    if pending:
        raise ValueError(f"the last stack has no sample count: {pending[:120]!r}")
    return stacks


def summarize(text: str, top: int = 12) -> dict[str, object]:
    """Total samples and the ``top`` functions by self and by inclusive share."""
    stacks = parse_collapsed(text)
    total = sum(count for _, count in stacks)
    if not total:
        return {"samples": 0, "by_self": [], "by_inclusive": []}
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def hotspot(frame: str) -> dict[str, object]:
        return {
            "frame": frame,
            "self": round(own[frame] / total, 3),
            "inclusive": round(inclusive[frame] / total, 3),
        }

    core = [
        frame
        for frame, _ in inclusive.most_common()
        if CORE in frame and not any(skip in frame for skip in _OUTER_FRAMES)
    ]
    return {
        "samples": total,
        "by_self": [hotspot(frame) for frame, _ in own.most_common(top)],
        "by_inclusive": [hotspot(frame) for frame, _ in inclusive.most_common(top)],
        "core_by_inclusive": [hotspot(frame) for frame in core[:top]],
    }


class Sampler:
    """py-spy recording one process until :meth:`stop`; absent py-spy makes it a no-op."""

    def __init__(self, pid: int, output: Path, rate: int = 50) -> None:
        self.output = output
        self.available = shutil.which("py-spy") is not None
        self._process: subprocess.Popen[bytes] | None = None
        if self.available:
            self._process = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--rate",
                    str(rate),
                    "--nonblocking",
                    "--function",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> dict[str, object] | None:
        """Stop sampling; the summary of what was recorded (``None`` without py-spy)."""
        if self._process is None:
            return None
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if not self.output.exists():
            return None
        return summarize(self.output.read_text())
