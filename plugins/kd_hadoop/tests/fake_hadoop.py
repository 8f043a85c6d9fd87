"""Fake ``hdfs`` and ``yarn`` tools: what a Hadoop image holds in ``/opt/hadoop/bin``.

They stand in for the real tools wherever the plugin's startscript and helper
run (a guest root in a unit test, a pod's directory on the test control plane):

* every call is appended to ``$KD_GUEST_ROOT/calls.log`` (``hdfs ARGS``; read
  it with ``recorded_calls(root, "calls.log")``) and, with the time and what it
  answered, to ``$KD_GUEST_ROOT/timeline.log`` (read it with
  :func:`kubedirector_core.testing.operator.timeline`), so calls can be ordered
  across members;
* ``hdfs namenode -format`` creates the NameNode's ``VERSION`` file;
* ``hdfs dfsadmin -report`` plays a NameNode: every DataNode it has seen (in
  ``workers`` or the exclude list) is reported; one on the exclude list reports
  "Decommission in progress" on its first :data:`REPORTS_IN_PROGRESS` reports,
  then "Decommissioned";
* ``hdfs dfsadmin -report -live`` lists the same DataNodes, all live, without
  counting as a report (it advances no decommission). Like the rest of this
  NameNode it knows DataNodes from its own ``workers`` file, not from DataNodes
  registering: a DataNode added by a grow is listed only once the NameNode's
  files name it.
"""

from __future__ import annotations

from pathlib import Path

from kubedirector_core.testing.operator import recorded_calls

#: Reports an excluded DataNode answers "Decommission in progress" before "Decommissioned".
REPORTS_IN_PROGRESS = 2

FAKE_HDFS = (
    r"""#!/bin/sh
ROOT="${KD_GUEST_ROOT:?}"
STATE="$ROOT/var/lib/fake-hdfs"
CONF="${HADOOP_CONF_DIR:?}"
mkdir -p "$STATE"
record() { printf '%s\t%s\n' "$(date +%s.%N)" "$*" >>"$ROOT/timeline.log"; }
echo "hdfs $*" >>"$ROOT/calls.log"
case "$*" in
    "namenode -format -nonInteractive")
        mkdir -p "$ROOT/data/hdfs/namenode/current"
        : >"$ROOT/data/hdfs/namenode/current/VERSION"
        record "hdfs $*" ;;
    "dfsadmin -refreshNodes")
        record "hdfs $* excluding: $(tr '\n' ' ' <"$CONF/dfs.exclude" 2>/dev/null)" ;;
    "dfsadmin -report")
        cat "$CONF/workers" "$CONF/dfs.exclude" "$STATE/registered" 2>/dev/null \
            | sort -u >"$STATE/registered.next"
        mv "$STATE/registered.next" "$STATE/registered"
        answer=
        while read -r host; do
            [ -n "$host" ] || continue
            state=Normal
            if grep -qxF "$host" "$CONF/dfs.exclude" 2>/dev/null; then
                reports=$(( $(cat "$STATE/reports.$host" 2>/dev/null || echo 0) + 1 ))
                echo "$reports" >"$STATE/reports.$host"
                state="Decommission in progress"
                [ "$reports" -gt __IN_PROGRESS__ ] && state=Decommissioned
                answer="$answer $host=$state;"
            fi
            printf 'Name: 10.0.0.9:9866 (%s)\nHostname: %s\nDecommission Status : %s\n\n' \
                "$host" "$host" "$state"
        done <"$STATE/registered"
        record "hdfs $* answered:$answer" ;;
    "dfsadmin -report -live")
        cat "$CONF/workers" "$CONF/dfs.exclude" "$STATE/registered" 2>/dev/null | sort -u \
            | while read -r host; do
                [ -n "$host" ] || continue
                printf 'Name: 10.0.0.9:9866 (%s)\nHostname: %s\n\n' "$host" "$host"
            done
        record "hdfs $*" ;;
    *) record "hdfs $*" ;;
esac
exit 0
"""
).replace("__IN_PROGRESS__", str(REPORTS_IN_PROGRESS))

FAKE_YARN = r"""#!/bin/sh
ROOT="${KD_GUEST_ROOT:?}"
echo "yarn $*" >>"$ROOT/calls.log"
printf '%s\t%s\n' "$(date +%s.%N)" "yarn $*" >>"$ROOT/timeline.log"
exit 0
"""

#: Where the image keeps them (the startscript and helper put ``$HADOOP_HOME/bin`` on PATH).
TOOLS = {"/opt/hadoop/bin/hdfs": FAKE_HDFS, "/opt/hadoop/bin/yarn": FAKE_YARN}


def install(guest_root: Path) -> None:
    """Put the fake tools into one guest root, executable."""
    for path, text in TOOLS.items():
        target = guest_root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755)


def calls(guest_root: Path) -> list[str]:
    """The fake tools' calls in one guest root, in order."""
    return recorded_calls(guest_root, "calls.log")
