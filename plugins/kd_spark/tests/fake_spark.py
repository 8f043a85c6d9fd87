"""Fake Spark ``sbin`` scripts: what a Spark image holds in ``/opt/spark/sbin``.

They stand in for the real scripts wherever the plugin's startscript and
helper run (a guest root in a unit test, a pod's directory on the test
control plane):

* every call is appended to ``$KD_GUEST_ROOT/calls.log`` (read it with
  ``recorded_calls(root, "calls.log")``) and, with the time, to
  ``$KD_GUEST_ROOT/timeline.log`` (read it with
  :func:`kubedirector_core.testing.operator.timeline`);
* ``start-*.sh`` mark their daemon running, ``stop-*.sh`` stopped;
* ``decommission-worker.sh`` starts a drain: the next
  ``spark-daemon.sh status`` still finds the worker running, the one after
  finds it stopped (as a worker exits once its executors and blocks moved).
"""

from __future__ import annotations

from pathlib import Path

from kubedirector_core.testing.operator import recorded_calls

_PROLOGUE = r"""#!/bin/sh
ROOT="${KD_GUEST_ROOT:?}"
RUN="$ROOT/var/run/fake-spark"
mkdir -p "$RUN"
CALL=$(echo "${0##*/} $*" | sed 's/ *$//')
echo "$CALL" >>"$ROOT/calls.log"
printf '%s\t%s\n' "$(date +%s.%N)" "$CALL" >>"$ROOT/timeline.log"
"""

_START = _PROLOGUE + ': >"$RUN/__DAEMON__.running"\n'
_STOP = _PROLOGUE + 'rm -f "$RUN/__DAEMON__.running"\n'

_DAEMON = (
    _PROLOGUE
    + r"""
[ "${1:-}" = status ] || exit 0
if [ -f "$RUN/worker.draining" ]; then
    polls=$(( $(cat "$RUN/worker.draining") + 1 ))
    echo "$polls" >"$RUN/worker.draining"
    if [ "$polls" -gt 1 ]; then rm -f "$RUN/worker.running" "$RUN/worker.draining"; fi
fi
[ -f "$RUN/worker.running" ]
"""
)

_DECOMMISSION = _PROLOGUE + 'echo 0 >"$RUN/worker.draining"\n'

#: The fake scripts by their path in the image.
SCRIPTS = {
    "/opt/spark/sbin/spark-daemon.sh": _DAEMON,
    "/opt/spark/sbin/decommission-worker.sh": _DECOMMISSION,
    **{
        f"/opt/spark/sbin/{verb}-{script}.sh": (_START if verb == "start" else _STOP).replace(
            "__DAEMON__", daemon
        )
        for verb in ("start", "stop")
        for script, daemon in (
            ("master", "master"),
            ("worker", "worker"),
            ("history-server", "history"),
        )
    },
}


def install(guest_root: Path, running: tuple[str, ...] = ()) -> None:
    """Put the fake scripts into one guest root, with the ``running`` daemons started."""
    for path, text in SCRIPTS.items():
        target = guest_root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)
    for daemon in running:
        marker = guest_root / "var/run/fake-spark" / f"{daemon}.running"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def calls(guest_root: Path) -> list[str]:
    """The fake scripts' calls in one guest root, in order."""
    return recorded_calls(guest_root, "calls.log")
