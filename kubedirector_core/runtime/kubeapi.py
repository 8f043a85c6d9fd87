"""Requests to the API server: server-side apply, patches, deletes, lists, Events.

A thin layer over the official client's connection handling (TLS, auth, the
urllib3 pool) that keeps bodies as plain dicts decoded with orjson, never the
client's typed models (whose generated request methods also differ between
client versions). Every write is retried on 409 Conflict, 429, 5xx and lost
connections, waiting as long as the server's ``Retry-After`` asks (the
official client retries only GET and HEAD). Thread-safe: the reconcile workers share one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode

import orjson
import urllib3
from kubernetes import client

from kubedirector_core import __version__
from kubedirector_core.errors import KubeDirectorError
from kubedirector_core.plan.model import Manifest, ObjectRef
from kubedirector_core.runtime.objects import FIELD_MANAGER, Kind, kind_of, path_of

log = logging.getLogger(__name__)

_RETRIED_STATUSES: Final = frozenset({409, 429, 500, 502, 503, 504})
_MAX_ATTEMPTS: Final = 6
_MAX_WAIT: Final = 30.0
_TIMEOUT: Final = urllib3.Timeout(connect=10, read=60)
USER_AGENT: Final = f"kubedirector/{__version__}"

APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
JSON: Final = "application/json"


class ApiError(KubeDirectorError):
    """The API server refused a request; ``status`` is its HTTP status (0: unreachable)."""

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{method} {path}: {status} {reason}")


def _retry_after(raw: str | None) -> float | None:
    try:
        return min(float(raw), _MAX_WAIT) if raw is not None else None
    except ValueError:
        return None


def _reason(data: bytes | None, fallback: str | None) -> str:
    """The ``message`` of the server's ``Status`` body, else the HTTP reason."""
    try:
        body = orjson.loads(data or b"{}")
    except orjson.JSONDecodeError:
        return str(fallback)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or fallback)


class KubeApi:
    """The operator's connection to the API server.

    ``sleep`` is injectable so the retry policy can be tested without waiting.
    """

    def __init__(
        self, api_client: client.ApiClient, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.api_client = api_client
        self._sleep = sleep

    # -- the one request primitive ------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        content_type: str = JSON,
        query: Sequence[tuple[str, str]] = (),
        retry_conflicts: bool = True,
    ) -> Any:
        """Send one request and return the decoded JSON body; retry transient refusals.

        Raises :class:`ApiError` when the server refuses for good (status 0:
        it could not be reached).
        """
        configuration = self.api_client.configuration
        url = configuration.host + path + (f"?{urlencode(list(query))}" if query else "")
        headers = {"Content-Type": content_type, "Accept": JSON, "User-Agent": USER_AGENT}
        for setting in configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        payload = orjson.dumps(body) if body is not None else None
        delay = 0.2
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                response = self.api_client.rest_client.pool_manager.request(
                    method, url, body=payload, headers=headers, timeout=_TIMEOUT, retries=False
                )
            except urllib3.exceptions.HTTPError as error:
                status, reason, wait = 0, str(error), None
            else:
                if 200 <= response.status < 300:
                    return orjson.loads(response.data) if response.data else None
                status, reason = response.status, _reason(response.data, response.reason)
                wait = _retry_after(response.headers.get("Retry-After"))
            retried = (status == 0 or status in _RETRIED_STATUSES) and (
                retry_conflicts or status != 409
            )
            if not retried or attempt == _MAX_ATTEMPTS:
                raise ApiError(method, path, status, reason)
            wait = wait if wait is not None else delay
            log.debug("%s %s: %s %s, retrying in %.1fs", method, path, status, reason, wait)
            self._sleep(wait)
            delay = min(delay * 2, _MAX_WAIT)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- what the reconciler does -------------------------------------------------

    def apply(self, manifest: Manifest, namespace: str | None) -> Manifest:
        """Server-side apply ``manifest`` with the operator's field manager; return the result."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        name = manifest["metadata"]["name"]
        result: Manifest = self.request(
            "PATCH",
            kind.object_path(name, namespace if kind.namespaced else None),
            body=manifest,
            content_type=APPLY_PATCH,
            query=(("fieldManager", FIELD_MANAGER), ("force", "true")),
        )
        return result

    def delete(self, ref: ObjectRef) -> bool:
        """Delete the object (its dependents in the background); False when already gone."""
        try:
            self.request(
                "DELETE",
                path_of(ref),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": "Background",
                },
            )
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def merge_patch(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
        retry_conflicts: bool = True,
    ) -> Manifest:
        """JSON-merge-patch the object (or its ``subresource``); return the result."""
        path = kind.object_path(name, namespace)
        if subresource:
            path = f"{path}/{subresource}"
        result: Manifest = self.request(
            "PATCH", path, body=patch, content_type=MERGE_PATCH, retry_conflicts=retry_conflicts
        )
        return result

    def create(self, kind: Kind, namespace: str | None, body: Manifest) -> Manifest:
        """Create an object in the collection; return it."""
        result: Manifest = self.request("POST", kind.collection_path(namespace), body=body)
        return result

    def list(
        self, kind: Kind, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[Manifest]:
        """Every object of ``kind`` (in ``namespace``, or everywhere), optionally by label."""
        path = (
            kind.collection_path(namespace)
            if namespace or not kind.namespaced
            else (
                f"/api/v1/{kind.plural}"
                if kind.api_version == "v1"
                else f"/apis/{kind.api_version}/{kind.plural}"
            )
        )
        query = [("labelSelector", label_selector)] if label_selector else []
        body = self.request("GET", path, query=query)
        items: list[Manifest] = body.get("items") or []
        return items


def watch_lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The newline-separated JSON documents of a streamed watch response."""
    pending = b""
    for chunk in response.stream(amt=None):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending
