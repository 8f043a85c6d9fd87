"""This machine's own network, as integration tests use it: free ports and plain HTTP GETs.

:func:`free_port` picks a port nothing listens on (for an operator's metrics,
probe or webhook server started next); :func:`http_get` asks such a server
for a path and never raises for an answer, so that a test can wait on it.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

__all__ = ["free_port", "http_get"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` (``0.0.0.0``: on every interface) at the time of the call."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 10) -> tuple[int, str]:
    """GET ``http://127.0.0.1:<port><path>``: (status, body); (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.read().decode()
    except OSError:
        return 0, ""
