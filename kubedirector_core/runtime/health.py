"""Liveness and readiness, and the small HTTP server that serves them and the metrics.

``/healthz`` (liveness) fails, with the reason in the body, when

* the event loop is blocked: a task on the loop stamps a heartbeat every
  second, and the probe (served from a thread of its own, so it answers while
  the loop is stuck) fails once the last stamp is older than
  :attr:`Health.loop_limit`;
* a watch stream has stalled. kopf renews every watch each
  ``--watch-timeout`` and hides both the reconnects and the API server's
  bookmarks from handlers, so a stream's silence cannot be told from a quiet
  resource (no StorageClass changes for days is normal). What *can* be
  observed is the echo of the operator's own writes: every object it writes
  is one it watches, so the write's new ``resourceVersion`` must come back as
  a watch event. A write not echoed within :attr:`Health.watch_limit`
  (twice the watch timeout: the stream has been silent and has not been
  renewed in that time) means the stream of that kind is stalled.

``/readyz`` (readiness) is 200 once the caches are primed by a LIST of
everything (``ready``), and 200 for a standby replica that can read its Lease
(``standby``: it serves probes and metrics but does not reconcile), 503
before either. A standby counts as ready so that a rolling update of a
two-replica Deployment can progress; which replica leads is told by the
Lease and the ``leader_election_master_status`` metric, not by readiness.

Everything here is read from the server's threads and written by the event
loop: plain floats, strings and dicts assigned whole, no locks needed under
the GIL for that, and none held while a request is answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kubedirector_core.runtime.httpthread import ThreadedServer, respond

log = logging.getLogger(__name__)

#: (status code, content type, body) of one answer.
Answer = tuple[int, str, bytes]
Route = Callable[[], Answer]
_TEXT = "text/plain; charset=utf-8"


def parse_bind_address(value: str, *, option: str) -> tuple[str, int] | None:
    """``host:port``, ``:port`` (every interface) or ``0`` (off, returns ``None``).

    :raises ValueError: naming ``option`` and the expected forms.
    """
    if value.strip() == "0":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"{option}: {value!r} is not an address to listen on; "
            "write host:port, :port (every interface) or 0 (off)"
        )
    return (host.strip("[]") or "0.0.0.0", int(port))  # noqa: S104 (a pod's probe port)


@dataclass(frozen=True)
class _Pending:
    since: float
    version: str


class Health:
    """What the probes report; fed by the operator, read by the probe server."""

    def __init__(
        self,
        *,
        watch_limit: float = 600.0,
        loop_limit: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: A write whose watch event has not come back for this long means a stalled stream.
        self.watch_limit = watch_limit
        #: The event loop's heartbeat may be this old before liveness fails.
        self.loop_limit = loop_limit
        self._clock = clock
        self._beat = clock()
        self._state = "starting"
        self._seen: dict[tuple[str, str, str], str] = {}
        self._pending: dict[tuple[str, str, str], _Pending] = {}

    # -- fed by the event loop --------------------------------------------------

    def beat(self) -> None:
        """The event loop is alive now."""
        self._beat = self._clock()

    async def heartbeat(self, interval: float = 1.0) -> None:
        """Stamp :meth:`beat` every ``interval`` seconds until cancelled (a loop task)."""
        while True:
            self.beat()
            await asyncio.sleep(interval)

    def standby(self) -> None:
        """This replica waits for the Lease and can read it."""
        if self._state == "starting":
            self._state = "standby"

    def ready(self) -> None:
        """The caches are primed and the operator reconciles."""
        self._state = "ready"

    def seen(self, kind: str, body: Mapping[str, object], deleted: bool = False) -> None:
        """A watch event (or the initial listing) delivered ``body``."""
        key = _key(kind, body)
        self._pending.pop(key, None)
        if deleted:
            self._seen.pop(key, None)
        else:
            self._seen[key] = _version(body)

    def wrote(self, kind: str, body: Mapping[str, object]) -> None:
        """The operator wrote ``body`` (the server's answer): its watch event must follow."""
        key = _key(kind, body)
        version = _version(body)
        if not version or key in self._pending or _at_least(self._seen.get(key), version):
            return  # already waiting, or already echoed (or a write that changed nothing)
        self._pending[key] = _Pending(self._clock(), version)

    # -- read by the probes -------------------------------------------------------

    def liveness(self) -> list[str]:
        """Why the process should be restarted; empty when it is healthy."""
        now = self._clock()
        problems = []
        blocked = now - self._beat
        if blocked > self.loop_limit:
            problems.append(f"the event loop has not run for {blocked:.1f} s")
        stalled = sorted(
            {key[0] for key, p in list(self._pending.items()) if now - p.since > self.watch_limit}
        )
        for kind in stalled:
            problems.append(
                f"the {kind} watch stream is stalled: a write has not come back as an event "
                f"within {self.watch_limit:g} s"
            )
        return problems

    @property
    def state(self) -> str:
        """``starting``, ``standby`` or ``ready``."""
        return self._state

    def healthz(self) -> Answer:
        """The liveness answer: 200 ``ok`` or 503 with the reasons, one per line."""
        problems = self.liveness()
        if problems:
            return 503, _TEXT, ("\n".join(problems) + "\n").encode()
        return 200, _TEXT, b"ok\n"

    def readyz(self) -> Answer:
        """The readiness answer: 200 ``ready``/``standby``, or 503 ``starting``."""
        state = self._state
        return (503 if state == "starting" else 200), _TEXT, f"{state}\n".encode()


def _key(kind: str, body: Mapping[str, object]) -> tuple[str, str, str]:
    metadata = body.get("metadata")
    meta: Mapping[str, object] = metadata if isinstance(metadata, Mapping) else {}
    return (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _at_least(seen: str | None, written: str) -> bool:
    """True when the version ``seen`` is ``written`` or later (etcd revisions compare as ints)."""
    if seen is None:
        return False
    if seen.isdigit() and written.isdigit():
        return int(seen) >= int(written)
    return seen == written


def _version(body: Mapping[str, object]) -> str:
    metadata = body.get("metadata")
    return str(metadata.get("resourceVersion") or "") if isinstance(metadata, Mapping) else ""


class HttpServer(ThreadedServer):
    """A tiny threaded HTTP server for GET routes (probes, ``/metrics``).

    It runs in daemon threads, so it answers even while the event loop is
    busy; each route must only read state, never wait on the loop.
    """

    def __init__(self, address: tuple[str, int], routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)
        server = ThreadingHTTPServer(address, _handler_for(self.routes))
        super().__init__(
            server, f"kd-http:{address[1]}", ", ".join(sorted(self.routes)), logger=log
        )


def _handler_for(routes: Mapping[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                status, content_type, body = 404, _TEXT, b"not found\n"
            else:
                try:
                    status, content_type, body = route()
                except Exception as error:  # a probe must answer, not hang up
                    log.exception("answering %s failed", self.path)
                    status, content_type, body = 500, _TEXT, f"{error}\n".encode()
            respond(self, status, content_type, body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds would drown the log: stay quiet."""

    return Handler
