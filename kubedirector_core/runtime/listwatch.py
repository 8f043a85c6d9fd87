"""A LIST, then a WATCH resumed from it, of one collection, in a thread of its own.

The operator's own watches outside kopf (every bound pod for node usage, the
one KubeDirectorConfig) share this: :class:`ListWatch` runs the loop —
LIST (the subclass's :meth:`ListWatch.relist`), WATCH from the LIST's
resourceVersion with bookmarks, LIST again on 410 Gone, back off
exponentially on errors (a 401/403 names the permission to grant) — and
hands every event to :meth:`ListWatch.handle`. Events are read from the raw
stream (``preload_content=False``) one JSON document per line, never the
whole response at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode

import orjson
import urllib3

from kubedirector_core.runtime.kubeapi import JSON, USER_AGENT, ApiError, KubeApi, watch_lines

log = logging.getLogger(__name__)

#: The longest wait between two attempts after errors.
MAX_BACKOFF_SECONDS: Final = 60.0


class Gone(Exception):
    """The watch's resource version is too old (410): LIST again."""


class ListWatch:
    """LIST, then WATCH ``path`` filtered by ``selector`` until :meth:`stop`, in a daemon thread.

    Subclasses implement :meth:`relist` (LIST, remember the version with
    :meth:`resume_from`, report what it found) and :meth:`handle` (one event,
    bookmarks excluded). ``what`` names the watch in log lines;
    ``forbidden_hint`` is added to a 401/403 warning.
    """

    def __init__(
        self,
        api: KubeApi,
        path: str,
        selector: tuple[str, str],
        *,
        what: str,
        forbidden_hint: str,
        thread_name: str,
        timeout_seconds: float = 300.0,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.api = api
        self.path = path
        self.selector = selector
        self.what = what
        self.forbidden_hint = forbidden_hint
        self.thread_name = thread_name
        self.timeout_seconds = timeout_seconds
        self.backoff_seconds = backoff_seconds
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- what a subclass provides ------------------------------------------------

    def relist(self) -> None:
        """LIST the collection, call :meth:`resume_from` with its version, report it."""
        raise NotImplementedError

    def handle(self, kind: str, body: Mapping[str, Any]) -> None:
        """One watch event: ``ADDED``, ``MODIFIED`` or ``DELETED`` and the object."""
        raise NotImplementedError

    def resume_from(self, version: str | None) -> None:
        """Let the next WATCH start at ``version`` (a LIST's); ``None`` LISTs again first."""
        self._version = version

    # -- the loop ---------------------------------------------------------------

    def start(self) -> None:
        """Start the watch thread (once: later calls do nothing)."""
        with self._start_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the watch thread to end (it ends at its next event or timeout)."""
        self._stop.set()

    def _run(self) -> None:
        delay = self.backoff_seconds
        while not self._stop.is_set():
            try:
                if self._version is None:
                    self.relist()
                self._watch()
                delay = self.backoff_seconds
                continue
            except Gone:
                self._version = None
                continue
            except ApiError as error:
                hint = f": {self.forbidden_hint}" if error.status in (401, 403) else ""
                log.warning("%s watch: %s%s; retrying in %.0fs", self.what, error, hint, delay)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                log.warning("%s watch: %s; retrying in %.0fs", self.what, error, delay)
            except Exception:
                log.exception("%s watch failed; retrying in %.0fs", self.what, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _watch(self) -> None:
        query = [
            ("watch", "1"),
            self.selector,
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(int(self.timeout_seconds))),
        ]
        if self._version:
            query.append(("resourceVersion", self._version))
        configuration = self.api.api_client.configuration
        url = f"{configuration.host}{self.path}?{urlencode(query)}"
        headers = {"Accept": JSON, "User-Agent": USER_AGENT}
        for setting in configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        response = self.api.api_client.rest_client.pool_manager.request(
            "GET",
            url,
            headers=headers,
            preload_content=False,
            retries=False,
            timeout=urllib3.Timeout(connect=10, read=self.timeout_seconds + 30),
        )
        try:
            if response.status != 200:
                if response.status == 410:
                    raise Gone()
                raise ApiError("WATCH", self.path, response.status, str(response.reason))
            for line in watch_lines(response):
                if self._stop.is_set():
                    return
                self._event(orjson.loads(line))
        finally:
            response.release_conn()

    def _event(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type"))
        body = event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise Gone()
            raise ApiError("WATCH", self.path, int(body.get("code") or 0), str(body.get("message")))
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self._version = version
        if kind != "BOOKMARK":
            self.handle(kind, body)
