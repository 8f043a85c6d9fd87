"""An HTTPS server for AdmissionReview v1 that runs on every replica, leader or not.

kopf's webhook server lives inside ``kopf.operator``, which only the leader
runs: behind a Service, the API server's calls to a standby would go
unanswered. Admission only reads (the app, StorageClasses, clusters using an
app), so every replica can answer; this server calls the handlers of
:func:`kubedirector_core.runtime.admission.handlers` directly.

Like the probe server (:mod:`.health`) it runs in daemon threads, so it
answers while the operator's event loop waits for the Lease or reconciles;
each request runs its handler in an event loop of its own thread.

TLS: :meth:`AdmissionServer.reload` swaps the certificate without a restart.
Each accepted connection is wrapped with the context current at that moment
(the handshake then happens in the request's thread), so connections already
open finish with the old certificate and new ones get the new one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kopf

from kubedirector_core.runtime.admission import Handler
from kubedirector_core.runtime.httpthread import ThreadedServer, respond

log = logging.getLogger(__name__)

#: The largest AdmissionReview accepted (the API server's own limit is 3 MiB objects).
MAX_BODY = 8 * 1024 * 1024


def ssl_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.2+ server context for a PEM certificate (chain) and key held in memory.

    :mod:`ssl` loads keys only from files: they are written to a private
    temporary file (``$TMPDIR``, the pod's ``/tmp`` emptyDir) and removed at once.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    descriptor, path = tempfile.mkstemp(prefix="kd-webhook-", suffix=".pem")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return context


def json_patch(body: Mapping[str, Any], merge: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The JSON-patch operations that apply the merge patch ``merge`` to ``body``.

    A key set to ``None`` is removed (when present); a mapping merged into a
    mapping recurses; anything else is ``add``-ed where the key is missing and
    ``replace``-d where it differs, as RFC 6902 requires (kopf before 1.44
    answered ``replace`` for missing keys, which the API server refuses).
    """
    operations: list[dict[str, Any]] = []

    def walk(base: Mapping[str, Any], changes: Mapping[str, Any], prefix: str) -> None:
        for key, value in changes.items():
            path = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
            present = key in base
            if value is None:
                if present:
                    operations.append({"op": "remove", "path": path})
            elif isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
                walk(base[key], value, path)
            elif not present or base[key] != value:
                op = "replace" if present else "add"
                operations.append({"op": op, "path": path, "value": value})

    walk(body, merge, "")
    return operations


async def review(handlers: Mapping[str, Handler], path: str, request: Any) -> dict[str, Any]:
    """Answer one AdmissionReview (a decoded JSON document) sent to ``path``.

    Unknown paths and malformed reviews are denied with a message saying so;
    an exception in a handler denies with code 500 (the API server then
    applies the webhook's failurePolicy only to transport errors, so the
    user sees the message).
    """
    payload = request.get("request") if isinstance(request, dict) else None
    if not isinstance(payload, dict):
        raise ValueError("the body is not an AdmissionReview with a request")
    uid = str(payload.get("uid", ""))
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    answer = {
        "apiVersion": request.get("apiVersion", "admission.k8s.io/v1"),
        "kind": "AdmissionReview",
        "response": response,
    }
    handler = handlers.get(path.strip("/").split("?", 1)[0])
    if handler is None:
        response["allowed"] = False
        response["status"] = {"code": 404, "message": f"no admission handler at {path}"}
        return answer
    new, old = payload.get("object"), payload.get("oldObject")
    body = new if new is not None else old
    warnings: list[str] = []
    patch = kopf.Patch()
    try:
        await handler(
            body=body or {},
            old=old,
            operation=str(payload.get("operation", "")),
            warnings=warnings,
            patch=patch,
        )
    except kopf.AdmissionError as error:
        response["allowed"] = False
        response["status"] = {"code": error.code or 500, "message": str(error)}
    except Exception as error:
        log.exception("admission handler %s failed", path)
        response["allowed"] = False
        response["status"] = {"code": 500, "message": f"internal error: {error}"}
    if warnings:
        response["warnings"] = warnings
    if response["allowed"] and patch:
        operations = json_patch(body or {}, patch)
        if operations:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(operations).encode()).decode()
    return answer


class _Server(ThreadingHTTPServer):
    context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # The handshake happens on the first read, in the request's own thread.
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed handshake or a dropped connection is the client's problem: log quietly."""
        log.debug("webhook connection from %s failed", client_address, exc_info=True)


class AdmissionServer(ThreadedServer):
    """Serves ``POST /<handler id>`` over HTTPS in background threads."""

    def __init__(
        self,
        address: tuple[str, int],
        handlers: Mapping[str, Handler],
        context: ssl.SSLContext,
    ) -> None:
        self.handlers = dict(handlers)
        server = _Server(address, _handler_for(self.handlers))
        server.context = context
        super().__init__(
            server, f"kd-webhook:{address[1]}", "the admission webhooks", scheme="https://",
            logger=log,
        )  # fmt: skip
        self._admission = server

    def reload(self, context: ssl.SSLContext) -> None:
        """Serve new connections with ``context`` (a renewed certificate)."""
        self._admission.context = context
        log.info("the admission webhook serves a new certificate")


def _handler_for(handlers: Mapping[str, Handler]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    raise ValueError(f"a body of {length} bytes")
                request = json.loads(self.rfile.read(length))
                answer = asyncio.run(review(handlers, self.path, request))
            except ValueError as error:  # JSONDecodeError is one
                self._send(400, f"not an AdmissionReview: {error}\n".encode(), "text/plain")
                return
            self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            respond(self, status, content_type, body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("webhook %s: " + format, self.address_string(), *args)

    return Handler
