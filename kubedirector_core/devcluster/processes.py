"""Child processes of the local control plane: start, record, check and stop them.

Every process is recorded (name, PID, command line) in the state folder the
moment it starts, and is stopped only by that record: a PID is signalled only
while ``/proc/<pid>/cmdline`` still shows the command that was started, so a
PID reused by an unrelated process is never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kubedirector_core.errors import DevClusterError

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessRecord:
    """A process this control plane started."""

    name: str
    pid: int
    argv: list[str]
    log: str

    def _identity(self) -> str:
        """``dead``, ``starting`` (exec under way), ``ours`` or ``other`` (PID reused)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return "dead"
        state = stat.rsplit(")", 1)[-1].split()[0]
        if state in ("Z", "X"):  # exited, not yet reaped
            return "dead"
        if not cmdline:
            # Right after fork/exec the new program's arguments are not mapped yet
            # (the parent of a vfork resumes before they are).
            return "starting"
        first = cmdline.split(b"\0", 1)[0].decode(errors="replace")
        return "ours" if first == self.argv[0] else "other"

    def alive(self) -> bool:
        """True while the PID runs (or is starting) the very command that was started."""
        return self._identity() in ("ours", "starting")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL once ``timeout`` passes.

        Only a PID positively identified as running our command is signalled.
        """
        deadline = time.monotonic() + 2
        while self._identity() == "starting" and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._identity() != "ours":
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(self.pid)
            if not self.alive():
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        # SIGKILL is delivered asynchronously: wait (briefly) until it took effect.
        deadline = time.monotonic() + 5
        while self.alive() and time.monotonic() < deadline:
            _reap(self.pid)
            time.sleep(0.02)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when its parent dies (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessTable:
    """The processes of one control plane, kept in ``<state>/processes.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "processes.json"
        self.log_dir = state_dir / "logs"
        # Handles of the children started by this very object, so that they are
        # reaped when stopped (processes started by an earlier `dev up` are
        # known only by their records).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def records(self) -> list[ProcessRecord]:
        """Every recorded process, in start order."""
        if not self.path.exists():
            return []
        raw = json.loads(self.path.read_text())
        return [ProcessRecord(**entry) for entry in raw]

    def _save(self, records: Sequence[ProcessRecord]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(r) for r in records], indent=2))
        tmp.replace(self.path)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        die_with_parent: bool = False,
    ) -> ProcessRecord:
        """Start ``argv`` detached, its output in ``logs/<name>.log``, and record it."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if die_with_parent else None,
            )
        self._children[process.pid] = process
        record = ProcessRecord(name=name, pid=process.pid, argv=list(argv), log=str(log_path))
        self._save([*self.records(), record])
        return record

    def stop_all(self) -> list[str]:
        """Stop every recorded process, last started first; return the names stopped."""
        stopped = []
        for record in reversed(self.records()):
            if record.alive():
                record.stop()
                stopped.append(record.name)
            child = self._children.pop(record.pid, None)
            if child is not None:
                child.wait(timeout=10)
        if self.path.exists():
            self.path.unlink()
        return stopped

    def any_alive(self) -> bool:
        """True when at least one recorded process still runs."""
        return any(r.alive() for r in self.records())


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


@dataclass(frozen=True)
class TLSClient:
    """What a health check presents: the CA to trust and an optional client certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        """An SSL context trusting ``ca`` and presenting the client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if self.cert and self.key:
            ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def http_ok(url: str, tls: TLSClient | None, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 200."""
    context = tls.context() if tls else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def wait_until(
    what: str,
    check: Callable[[], bool],
    record: ProcessRecord,
    timeout: float,
) -> None:
    """Wait until ``check()`` holds, failing fast with the log tail if ``record`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not record.alive():
            raise DevClusterError(
                f"{record.name} exited while starting ({what}).\n"
                f"Last lines of {record.log}:\n{log_tail(Path(record.log))}"
            )
        time.sleep(0.2)
    raise DevClusterError(
        f"{record.name} did not become healthy within {timeout:.0f}s ({what}).\n"
        f"Last lines of {record.log}:\n{log_tail(Path(record.log))}"
    )


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, or a note that it is empty."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
