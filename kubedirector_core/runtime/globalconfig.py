"""The operator's KubeDirectorConfig (``kd-global-config``): read, watched, turned into settings.

KubeDirector has one configuration object, the KubeDirectorConfig named
``kd-global-config`` in its own (system) namespace. :class:`ConfigWatch`
LISTs and then WATCHes exactly that object (a field selector on its name, in
that namespace: the permissions need name only it, see deploy/rbac.yaml) in
a thread of its own, and reports every change; :func:`read_settings` GETs it
once (the admission webhook on a replica that does not watch). Either way
:func:`settings_of` turns it into the planner's
:class:`~kubedirector_core.plan.settings.OperatorSettings`: a missing or
invalid config gives KubeDirector's built-in values (an invalid one is
logged with what is wrong).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode

import orjson
import urllib3

from kubedirector_core.api import GROUP, VERSION
from kubedirector_core.api.config import CONFIG_NAME, KubeDirectorConfig
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.runtime.kubeapi import JSON, USER_AGENT, ApiError, KubeApi, watch_lines
from kubedirector_core.validation import validate_config

log = logging.getLogger(__name__)

PLURAL: Final = "kubedirectorconfigs"
MAX_BACKOFF_SECONDS: Final = 60.0

#: Called with the config's body, or ``None`` when there is none (deleted, never made).
ConfigChanged = Callable[[Mapping[str, Any] | None], None]


def collection_path(namespace: str) -> str:
    """The REST path of the KubeDirectorConfigs of ``namespace``."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def settings_of(body: Mapping[str, Any] | None) -> OperatorSettings:
    """The settings of a KubeDirectorConfig body; the built-in ones for ``None`` or invalid."""
    if body is None:
        return OperatorSettings()
    config, problems = validate_config(dict(body))
    errors = [str(problem) for problem in problems if problem.is_error]
    if config is None or errors:
        log.error(
            "KubeDirectorConfig %s is invalid, using the built-in settings: %s",
            CONFIG_NAME,
            "; ".join(errors) or "unreadable",
        )
        return OperatorSettings()
    assert isinstance(config, KubeDirectorConfig)
    return OperatorSettings.from_config(config)


def read_settings(api: KubeApi, namespace: str) -> OperatorSettings:
    """GET ``kd-global-config`` of ``namespace`` once: its settings, the built-in ones if absent.

    Blocking. Raises :class:`ApiError` for anything but a 404.
    """
    try:
        body = api.request("GET", f"{collection_path(namespace)}/{CONFIG_NAME}")
    except ApiError as error:
        if error.status == 404:
            return OperatorSettings()
        raise
    return settings_of(body)


class _Gone(Exception):
    """The watch's resource version is too old (410): LIST again."""


class ConfigWatch:
    """Keeps up with ``kd-global-config`` in one namespace: a LIST, then a WATCH, in a thread.

    ``on_change`` is called from :meth:`prime` and from the watch thread with
    the config's body (``None`` once deleted or when there is none); it must
    hand the body to the event loop itself. :attr:`synced` turns true after
    the first successful LIST.
    """

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        on_change: ConfigChanged,
        *,
        name: str = CONFIG_NAME,
        timeout_seconds: float = 300.0,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.on_change = on_change
        self.timeout_seconds = timeout_seconds
        self.backoff_seconds = backoff_seconds
        self.synced = False
        self._version: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        """The collection this watch reads."""
        return collection_path(self.namespace)

    def _selector(self) -> tuple[str, str]:
        return ("fieldSelector", f"metadata.name={self.name}")

    def prime(self) -> None:
        """LIST the config (blocking) and report it; the watch resumes from this LIST."""
        listed = self.api.request("GET", self.path, query=[self._selector()])
        items = listed.get("items") or []
        self._version = (listed.get("metadata") or {}).get("resourceVersion")
        self.synced = True
        self.on_change(items[0] if items else None)

    def start(self) -> None:
        """Start the watch thread (once: later calls do nothing)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="kd-global-config", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the watch thread to end (it ends at its next event or timeout)."""
        self._stop.set()

    def _run(self) -> None:
        delay = self.backoff_seconds
        while not self._stop.is_set():
            try:
                if self._version is None:
                    self.prime()
                self._watch()
                delay = self.backoff_seconds
                continue
            except _Gone:
                self._version = None
                continue
            except ApiError as error:
                hint = (
                    f": grant the operator get, list and watch on {PLURAL} named "
                    f"{self.name} in {self.namespace} (deploy/rbac.yaml)"
                    if error.status in (401, 403)
                    else ""
                )
                log.warning("%s watch: %s%s; retrying in %.0fs", self.name, error, hint, delay)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                log.warning("%s watch: %s; retrying in %.0fs", self.name, error, delay)
            except Exception:
                log.exception("%s watch failed; retrying in %.0fs", self.name, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _watch(self) -> None:
        query = [
            ("watch", "1"),
            self._selector(),
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
                    raise _Gone()
                raise ApiError("WATCH", self.path, response.status, str(response.reason))
            for line in watch_lines(response):
                if self._stop.is_set():
                    return
                self._event(orjson.loads(line))
        finally:
            response.release_conn()

    def _event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        body = event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise _Gone()
            raise ApiError("WATCH", self.path, int(body.get("code") or 0), str(body.get("message")))
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self._version = version
        if kind == "BOOKMARK":
            return
        self.on_change(None if kind == "DELETED" else body)
