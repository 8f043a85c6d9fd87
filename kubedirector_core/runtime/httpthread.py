"""A threaded HTTP server run from a daemon thread: what the probe and webhook servers share.

:class:`ThreadedServer` serves a :class:`~http.server.ThreadingHTTPServer` in a
daemon thread (each request in a daemon thread of its own), so that it answers
while the operator's event loop is busy, and stops it cleanly;
:func:`respond` writes a whole response with its length. The probe and metrics
server (:class:`kubedirector_core.runtime.health.HttpServer`) and the admission
webhook (:class:`kubedirector_core.runtime.webhookserver.AdmissionServer`) are
built on them.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


class ThreadedServer:
    """Serves ``server`` in a daemon thread named ``thread_name``.

    ``what`` and ``scheme`` only name the server in the line :meth:`start`
    writes to ``logger`` (the owner's): ``serving <what> on <scheme><host>:<port>``.
    """

    def __init__(
        self,
        server: ThreadingHTTPServer,
        thread_name: str,
        what: str,
        *,
        scheme: str = "",
        logger: logging.Logger = log,
    ) -> None:
        server.daemon_threads = True
        self._server = server
        self._what = what
        self._scheme = scheme
        self._log = logger
        self._thread = threading.Thread(target=server.serve_forever, name=thread_name, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (useful when asked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()
        host, port = self._server.server_address[:2]
        self._log.info("serving %s on %s%s:%s", self._what, self._scheme, host, port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def respond(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
    """Send ``body`` as the whole answer to ``handler``'s request, with its length."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
