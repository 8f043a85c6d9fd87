"""In-container commands get exactly their stdin and then end-of-file."""

from __future__ import annotations

import subprocess

from kubedirector_core.runtime.reconciler import with_bounded_stdin


def test_the_command_sees_end_of_file_after_its_input_even_if_the_stream_stays_open() -> None:
    text = 'configmeta: {"ü": 1}\nline two\n'
    command = with_bounded_stdin(("sh", "-c", 'cat; echo "[$1]"', "sh", "arg"), text)
    # Extra bytes after the input stand for a stream the exec server never closes.
    result = subprocess.run(
        command, input=(text + "NOT FOR THE COMMAND").encode(), capture_output=True, check=True
    )
    assert result.stdout.decode() == text + "[arg]\n"


def test_the_exit_status_is_the_commands() -> None:
    command = with_bounded_stdin(("sh", "-c", "cat >/dev/null; exit 3"), "x")
    assert subprocess.run(command, input=b"x", check=False).returncode == 3
