"""Run a command in a pod's container through the API server's exec subresource.

The official client reads the exit status from the error channel's
``ExitCode`` cause. Kubelets send it that way; KWOK reports a failed command as
an internal error whose message ends in ``exit status N``. Both are understood
here, so callers always get an integer exit status, or an :class:`ExecError`
when the command could not be run at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client
from kubernetes.stream import stream

from kubedirector_core.errors import KubeDirectorError

_EXIT_STATUS = re.compile(r"exit status (\d+)\s*$")


class ExecError(KubeDirectorError):
    """The command could not be started in the container (not: it exited non-zero)."""


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container produced."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0


def exit_code_from_status(status: dict[str, Any] | None) -> int:
    """Turn the exec error channel's ``Status`` into an exit status, or raise ExecError."""
    if not status or status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    message = str(status.get("message", ""))
    match = _EXIT_STATUS.search(message)
    if match:
        return int(match.group(1))
    raise ExecError(message or "exec failed without a message")


def exec_in_pod(
    api: client.ApiClient,
    namespace: str,
    pod: str,
    command: Sequence[str],
    *,
    container: str | None = None,
    stdin: str | None = None,
    timeout: float = 60.0,
) -> ExecResult:
    """Run ``command`` in ``namespace/pod`` and return its exit status and output.

    Raises :class:`ExecError` when the command could not be run (no such
    container, exec refused) or did not finish within ``timeout`` seconds.
    """
    core = client.CoreV1Api(api)
    kwargs: dict[str, Any] = {
        "command": list(command),
        "stdout": True,
        "stderr": True,
        "stdin": stdin is not None,
        "tty": False,
        "_preload_content": False,
    }
    if container:
        kwargs["container"] = container
    try:
        connection = stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    except client.ApiException as error:
        raise ExecError(f"exec into {namespace}/{pod} refused: {error.reason}") from error
    try:
        if stdin is not None:
            connection.write_stdin(stdin)
            connection.close_channel(0)
        connection.run_forever(timeout=timeout)
        if connection.is_open():
            raise ExecError(f"command in {namespace}/{pod} did not finish within {timeout:.0f}s")
        stdout = connection.read_stdout() or ""
        stderr = connection.read_stderr() or ""
        raw_status = connection.read_channel(3)
    finally:
        connection.close()
        # websocket-client skips closing the socket when the server closed the
        # connection first; shut it down so no socket is leaked.
        if connection.sock is not None:
            connection.sock.shutdown()
    status = yaml.safe_load(raw_status) if raw_status else None
    return ExecResult(exit_code_from_status(status), stdout, stderr)
