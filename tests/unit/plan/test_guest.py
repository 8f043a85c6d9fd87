"""The guest script, run for real with sh in a temporary guest root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kubedirector_core.plan import ActionKind, plan_cluster
from kubedirector_core.plan.guest import GuestFile, Injection, guest_command, guest_input

from .simulate import Sim

pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")

RECORDING_STARTSCRIPT = """#!/bin/sh
echo "$*" >> "$KD_GUEST_ROOT/calls.log"
test -f "$KD_GUEST_ROOT/etc/guestconfig/configmeta.json" || exit 9
[ "${FAIL:-}" = yes ] && exit 4
echo "startscript $*"
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A setup package whose startscript records its calls in the guest root."""
    source = tmp_path / "src" / "demo-setup"
    source.mkdir(parents=True)
    script = source / "startscript"
    script.write_text(RECORDING_STARTSCRIPT)
    script.chmod(0o755)
    archive = tmp_path / "demo.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="demo-setup")
    return archive


def _run(
    root: Path, command: tuple[str, ...], stdin: str | None = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        text=True,
        capture_output=True,
        env={**os.environ, "KD_GUEST_ROOT": str(root), **env},
        timeout=30,
        check=False,
    )


def _calls(root: Path) -> list[str]:
    log = root / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_configure_runs_once_and_writes_only_under_the_guest_root(
    tmp_path: Path, package: Path
) -> None:
    root = tmp_path / "pod"
    root.mkdir()
    meta = json.dumps({"node": {"id": "1"}, "quote": "it's $HOME `x`"})
    stdin = guest_input(
        [
            GuestFile("/etc/guestconfig/configmeta.json", meta),
            GuestFile("/etc/app/x", "a\n", 0o600),
        ],
        package_url=f"file://{package}",
    )
    before = sorted(p for p in tmp_path.rglob("*") if not str(p).startswith(str(root)))
    first = _run(root, guest_command("configure", "configure-n1-abc"), stdin)
    assert first.returncode == 0, first.stderr
    assert "startscript --configure" in first.stdout
    again = _run(root, guest_command("configure", "configure-n1-abc"), stdin)
    assert again.returncode == 0
    assert "already done" in again.stderr
    assert _calls(root) == ["--configure"]
    assert json.loads((root / "etc/guestconfig/configmeta.json").read_text()) == json.loads(meta)
    assert (root / "etc/app/x").read_text() == "a\n"
    assert oct((root / "etc/app/x").stat().st_mode & 0o777) == "0o600"
    assert (root / "etc/guestconfig/.kd-done/configure-n1-abc").exists()
    assert (root / "opt/guestconfig/demo-setup/startscript").exists()
    after = sorted(p for p in tmp_path.rglob("*") if not str(p).startswith(str(root)))
    assert before == after


def test_notify_passes_the_startscript_contract(tmp_path: Path, package: Path) -> None:
    root = tmp_path / "pod"
    setup = guest_input(
        [GuestFile("/etc/guestconfig/configmeta.json", "{}")], package_url=f"file://{package}"
    )
    assert _run(root, guest_command("configure", "c1"), setup).returncode == 0
    args = ("--addnodes", "--nodegroup", "1", "--role", "worker", "--fqdns", "a.x,b.x")
    refresh = guest_input(
        [GuestFile("/etc/guestconfig/configmeta.json", '{"v": 2}')], run_configure=False
    )
    for _ in range(2):
        done = _run(root, guest_command("notify", "addnodes-n4.5-x", *args), refresh)
        assert done.returncode == 0, done.stderr
    assert _calls(root) == ["--configure", " ".join(args)]
    assert (root / "etc/guestconfig/configmeta.json").read_text() == '{"v": 2}'


def test_a_failing_startscript_is_reported_and_not_recorded(tmp_path: Path, package: Path) -> None:
    root = tmp_path / "pod"
    stdin = guest_input(
        [GuestFile("/etc/guestconfig/configmeta.json", "{}")], package_url=f"file://{package}"
    )
    failed = _run(root, guest_command("configure", "c1"), stdin, FAIL="yes")
    assert failed.returncode == 4
    assert not (root / "etc/guestconfig/.kd-done/c1").exists()
    assert _run(root, guest_command("configure", "c1"), stdin).returncode == 0
    assert _calls(root) == ["--configure", "--configure"]


def test_bad_package_and_configure_not_in_event_list(tmp_path: Path, package: Path) -> None:
    root = tmp_path / "pod"
    missing = guest_input([], package_url=f"file://{tmp_path}/nope.tgz")
    result = _run(root, guest_command("configure", "c1"), missing)
    assert result.returncode == 65
    assert "cannot fetch setup package" in result.stderr
    quiet = guest_input([], package_url=f"file://{package}", run_configure=False)
    assert _run(root, guest_command("configure", "c2"), quiet).returncode == 0
    assert _calls(root) == []
    assert (root / "opt/guestconfig/demo-setup/startscript").exists()


def test_file_injections_and_plugin_exec(tmp_path: Path) -> None:
    root = tmp_path / "pod"
    source = tmp_path / "tool.sh"
    source.write_text("echo tool\n")
    stdin = guest_input(
        [], injections=[Injection(f"file://{source}", "/usr/local/bin", mode=0o750)]
    )
    assert _run(root, guest_command("configure", "c1"), stdin).returncode == 0
    injected = root / "usr/local/bin/tool.sh"
    assert injected.read_text() == "echo tool\n"
    assert injected.stat().st_mode & 0o777 == 0o750
    counter = f"echo x >> {root}/ran"
    for _ in range(2):
        assert _run(root, guest_command("exec", "plugin-a", counter), None).returncode == 0
    assert (root / "ran").read_text() == "x\n"
    check = _run(root, guest_command("exec", "plugin-b", counter, "exit 1"), None)
    assert check.returncode == 1
    assert _run(root, guest_command("exec", "plugin-b", counter, "true"), None).returncode == 0
    assert (root / "ran").read_text() == "x\nx\n"


def test_planned_actions_run_for_real(tmp_path: Path, package: Path, sim: Sim) -> None:
    """The planner's own commands and stdin, run in one guest root per member."""
    sim.app = sim.app.model_copy(
        update={
            "spec": sim.app.spec.model_copy(
                update={
                    "default_config_package": sim.app.spec.default_config_package.model_copy(  # type: ignore[union-attr]
                        update={"package_url": f"file://{package}"}
                    )
                }
            )
        }
    )
    sim.step()
    plan = plan_cluster(sim.observed(), sim.hooks)
    assert {action.kind for action in plan.actions} == {ActionKind.CONFIGURE}
    for action in plan.actions:
        root = tmp_path / action.member
        result = _run(root, action.command, action.stdin)
        assert result.returncode == 0, result.stderr
        meta = json.loads((root / "etc/guestconfig/configmeta.json").read_text())
        assert meta["node"]["hostname"].startswith(action.member + ".")
        assert _calls(root) == ["--configure"]
