"""In-container actions read exactly their stdin, and run one at a time per member."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from kubedirector_core.runtime.reconciler import BUSY_EXIT, guarded


def run(command: tuple[str, ...], data: bytes, root: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KD_GUEST_ROOT": str(root)}
    return subprocess.run(command, input=data, capture_output=True, check=False, env=env)


def test_the_command_sees_end_of_file_after_its_input_even_if_the_stream_stays_open(
    tmp_path: Path,
) -> None:
    text = 'configmeta: {"ü": 1}\nline two\n'
    command = guarded(("sh", "-c", 'cat; echo "[$1]"', "sh", "arg"), text)
    # Extra bytes after the input stand for a stream the exec server never closes.
    result = run(command, (text + "NOT FOR THE COMMAND").encode(), tmp_path)
    assert result.stdout.decode() == text + "[arg]\n"
    assert result.returncode == 0
    assert not (tmp_path / "tmp/.kd-action-lock").exists()


def test_the_exit_status_is_the_commands_with_or_without_stdin(tmp_path: Path) -> None:
    assert run(guarded(("sh", "-c", "cat >/dev/null; exit 3"), "x"), b"x", tmp_path).returncode == 3
    assert run(guarded(("sh", "-c", "exit 4"), None), b"", tmp_path).returncode == 4


def test_a_second_action_waits_for_a_short_first_one_and_a_dead_holders_lock_is_taken_over(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "KD_GUEST_ROOT": str(tmp_path)}
    log = tmp_path / "order"
    first = subprocess.Popen(
        guarded(("sh", "-c", f"echo start1 >>{log}; sleep 1.5; echo end1 >>{log}"), None),
        env=env,
    )
    time.sleep(0.5)
    second = run(guarded(("sh", "-c", f"echo run2 >>{log}"), None), b"", tmp_path)
    first.wait(timeout=10)
    assert second.returncode == 0
    assert log.read_text().split() == ["start1", "end1", "run2"]

    stale = tmp_path / "tmp/.kd-action-lock"
    stale.mkdir(parents=True)
    (stale / "pid").write_text("999999999\n")
    assert run(guarded(("true",), None), b"", tmp_path).returncode == 0


def test_an_action_gives_up_as_busy_while_a_long_one_holds_the_member(tmp_path: Path) -> None:
    env = {**os.environ, "KD_GUEST_ROOT": str(tmp_path)}
    long = subprocess.Popen(guarded(("sleep", "8"), None), env=env)
    try:
        time.sleep(0.5)
        busy = run(guarded(("true",), None), b"", tmp_path)
        assert busy.returncode == BUSY_EXIT
        assert busy.stderr.startswith(b"kd-action: busy")
    finally:
        long.kill()
        long.wait()
