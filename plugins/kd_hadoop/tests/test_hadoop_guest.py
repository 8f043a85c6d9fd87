"""The in-container side, run for real: the startscript and the helper in per-member guest roots.

Each member gets its own directory as guest root (``KD_GUEST_ROOT``), as the test
control plane gives each pod; the plugin's files are written there as the core
writes them, and fake ``hdfs``/``yarn`` tools on the guest's PATH record their calls
and simulate HDFS (see ``fake_hadoop``): an excluded DataNode reports "Decommission
in progress" on its first two reports and "Decommissioned" after. ``drive_resize``
stands in for the core's resize loop (ask the hook, run each action once, poll its
check, ask again) so that the order of events can be asserted without a server.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import fake_hadoop
import hadoop_builders as build
import pytest
from kd_hadoop import plugin
from kd_hadoop.package import setup_file

import kubedirector_core as kd
from kubedirector_core.testing.plugin_fixtures import isolated_hooks


@dataclass
class Guests:
    """One guest root per member, holding what the core writes and the fake tools."""

    root: Path
    app: kd.KubeDirectorApp
    cluster: kd.KubeDirectorCluster
    events: list[str] = field(default_factory=list)

    def directory(self, member: str) -> Path:
        path = self.root / member
        path.mkdir(parents=True, exist_ok=True)
        return path

    def deliver(self, member: kd.Member) -> None:
        """Write the member's files under its root, then the fake Hadoop tools."""
        guest = self.directory(member.name)
        role = build.role_of(self.cluster, member.role)
        members = build.members(self.cluster)
        for member_file in (
            plugin.kd_member_files(self.app, self.cluster, role, member, members) or []
        ):
            target = guest / member_file.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(member_file.content)
            target.chmod(member_file.mode)
        fake_hadoop.install(guest)
        startscript = guest / "opt/guestconfig/startscript"
        startscript.parent.mkdir(parents=True, exist_ok=True)
        startscript.write_text(setup_file("startscript"))
        startscript.chmod(0o755)

    def run(
        self, member: str, command: tuple[str, ...] | list[str]
    ) -> subprocess.CompletedProcess[str]:
        guest = self.directory(member)
        environment = {"PATH": os.environ["PATH"], "KD_GUEST_ROOT": str(guest)}
        return subprocess.run(
            list(command), cwd=guest, env=environment, capture_output=True, text=True, timeout=30
        )

    def calls(self, member: str) -> list[str]:
        return fake_hadoop.calls(self.directory(member))


def drive_resize(guests: Guests, hooks: kd.Hooks, resize: kd.RoleResize) -> kd.ResizeDecision:
    """The core's resize loop: run each action once, poll its check, ask the hook again.

    A WAIT whose actions are all done lets the resize go ahead, as the core's
    documented example (which always answers WAIT for a shrink) requires.
    """
    started: set[str] = set()
    done: set[str] = set()
    for _ in range(10):
        decision = hooks.on_resize(guests.app, guests.cluster, resize)
        if decision.verdict is not kd.ResizeVerdict.WAIT:
            guests.events.append(str(decision.verdict))
            return decision
        pending = [action for action in decision.actions if action.key not in done]
        if not pending:
            guests.events.append("proceed")
            return kd.ResizeDecision.proceed()
        for action in pending:
            if action.key not in started:
                started.add(action.key)
                result = guests.run(action.member, action.command)
                guests.events.append(
                    f"run {action.command[4]} in {action.member}: {result.returncode}"
                )
            if action.done_when is kd.DoneWhen.EXITS_ZERO:
                done.add(action.key)
                continue
            check = guests.run(action.member, action.check)
            guests.events.append(f"check in {action.member}: {check.returncode}")
            if check.returncode == 0:
                done.add(action.key)
    raise AssertionError(f"the resize never settled: {guests.events}")


@pytest.fixture
def hooks() -> kd.Hooks:
    return isolated_hooks(("hadoop", plugin))


def _guests(tmp_path: Path, cluster: kd.KubeDirectorCluster, datanodes: int) -> Guests:
    guests = Guests(tmp_path / "pods", build.app(), cluster)
    namenode = build.member("namenode")
    # Before the shrink the NameNode's files list every DataNode still running.
    before = Guests(guests.root, guests.app, build.cluster(replication=2, datanode=datanodes))
    before.deliver(namenode)
    return guests


def test_shrinking_datanodes_4_to_2_decommissions_first_in_order(
    tmp_path: Path, hooks: kd.Hooks
) -> None:
    guests = _guests(tmp_path, build.cluster(replication=2, datanode=2), datanodes=4)
    resize = build.resize(guests.cluster, "datanode", 4)
    leaving = resize.leaving

    decision = drive_resize(guests, hooks, resize)

    namenode = "hadoop-example-namenode-0"
    assert decision.verdict is kd.ResizeVerdict.PROCEED
    assert guests.events == [
        f"run decommission in {namenode}: 0",
        f"check in {namenode}: 1",  # Decommission in progress
        f"check in {namenode}: 1",  # Decommission in progress
        f"check in {namenode}: 0",  # Decommissioned
        "proceed",
    ]
    exclude = guests.directory(namenode) / "opt/hadoop/etc/hadoop/dfs.exclude"
    assert exclude.read_text().splitlines() == [m.hostname for m in leaving]
    assert guests.calls(namenode) == [
        "hdfs dfsadmin -refreshNodes",
        "hdfs dfsadmin -report",
        "hdfs dfsadmin -report",
        "hdfs dfsadmin -report",
    ]


def test_shrinking_datanodes_2_to_1_with_replication_2_is_refused(
    tmp_path: Path, hooks: kd.Hooks
) -> None:
    cluster = build.cluster(replication=2, datanode=1)
    guests = _guests(tmp_path, cluster, datanodes=2)
    resize = build.resize(cluster, "datanode", 2)

    decision = drive_resize(guests, hooks, resize)

    assert decision.verdict is kd.ResizeVerdict.REFUSE
    assert guests.calls("hadoop-example-namenode-0") == []  # nothing was touched
    assert [p.path for p in hooks.validate_cluster(cluster, build.app(), None)] == [
        "spec.roles[1].members"
    ]


def test_a_datanode_that_comes_back_is_recommissioned(tmp_path: Path, hooks: kd.Hooks) -> None:
    guests = _guests(tmp_path, build.cluster(replication=2, datanode=3), datanodes=4)
    namenode = "hadoop-example-namenode-0"
    exclude = guests.directory(namenode) / "opt/hadoop/etc/hadoop/dfs.exclude"
    exclude.write_text(f"{build.fqdn('datanode', 3)}\n{build.fqdn('datanode', 2)}\n")
    resize = build.resize(guests.cluster, "datanode", 2)

    assert drive_resize(guests, hooks, resize).verdict is kd.ResizeVerdict.PROCEED

    assert exclude.read_text().splitlines() == [build.fqdn("datanode", 3)]
    assert guests.calls(namenode) == ["hdfs dfsadmin -refreshNodes"]


def test_a_datanode_is_registered_once_the_namenode_lists_it_live(
    tmp_path: Path, hooks: kd.Hooks
) -> None:
    cluster = build.cluster(datanode=2)
    guests = Guests(tmp_path / "pods", build.app(), cluster)
    namenode = build.member("namenode")
    guests.deliver(namenode)
    members = build.members(cluster)
    role = build.role_of(cluster, "datanode")

    def check(datanode: kd.Member) -> subprocess.CompletedProcess[str]:
        action = hooks.member_readiness(guests.app, cluster, role, datanode, members)
        assert action is not None
        assert action.member == namenode.name
        return guests.run(action.member, action.check)

    assert check(build.member("datanode", 1)).returncode == 0  # in the NameNode's workers
    unknown = check(build.member("datanode", 5))
    assert unknown.returncode == 1
    assert unknown.stdout == f"{build.fqdn('datanode', 5)}: not reported live by the NameNode\n"
    # Asking only lists live DataNodes: it is not a report that advances a decommission.
    assert guests.calls(namenode.name) == ["hdfs dfsadmin -report -live"] * 2


def test_configure_formats_hdfs_once_and_starts_the_members_daemons(tmp_path: Path) -> None:
    guests = Guests(tmp_path / "pods", build.app(), build.cluster())
    namenode, worker = build.member("namenode"), build.member("nodemanager", 1)
    guests.deliver(namenode)
    guests.deliver(worker)
    startscript = ("sh", "opt/guestconfig/startscript")

    for _ in range(2):  # a restarted container configures again: no second format
        assert guests.run(namenode.name, (*startscript, "--configure")).returncode == 0
    assert guests.run(worker.name, (*startscript, "--configure")).returncode == 0

    assert guests.calls(namenode.name) == [
        "hdfs namenode -format -nonInteractive",
        "hdfs --daemon start namenode",
        "hdfs --daemon start namenode",
    ]
    assert guests.calls(worker.name) == ["yarn --daemon start nodemanager"]
    root = guests.directory(namenode.name) / "opt/hadoop/etc/hadoop"
    assert (root / "dfs.exclude").exists()
    assert (root / "yarn.exclude").exists()


def test_reconnect_restarts_daemons_only_when_their_configuration_changed(tmp_path: Path) -> None:
    guests = Guests(tmp_path / "pods", build.app(), build.cluster(datanode=3))
    namenode = build.member("namenode")
    guests.deliver(namenode)
    startscript = ("sh", "opt/guestconfig/startscript")
    guests.run(namenode.name, (*startscript, "--configure"))

    guests.run(namenode.name, (*startscript, "--reconnect"))
    unchanged = guests.calls(namenode.name)[2:]
    guests.cluster = build.cluster(replication=3, datanode=3)
    guests.deliver(namenode)
    guests.run(namenode.name, (*startscript, "--reconnect"))
    changed = guests.calls(namenode.name)[2 + len(unchanged) :]

    assert unchanged == ["hdfs dfsadmin -refreshNodes"]
    assert changed == [
        "hdfs --daemon stop namenode",
        "hdfs --daemon start namenode",
        "hdfs dfsadmin -refreshNodes",
    ]


def test_nothing_is_written_outside_the_guest_roots(tmp_path: Path) -> None:
    guests = Guests(tmp_path / "pods", build.app(), build.cluster())
    namenode = build.member("namenode")
    guests.deliver(namenode)
    guests.run(namenode.name, ("sh", "opt/guestconfig/startscript", "--configure"))

    written = {p.relative_to(tmp_path).parts[:2] for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {("pods", namenode.name)}
