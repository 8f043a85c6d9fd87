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
from collections.abc import Callable, Mapping
from typing import Any, Final

from kubedirector_core.api import GROUP, VERSION
from kubedirector_core.api.config import CONFIG_NAME, KubeDirectorConfig
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.runtime.kubeapi import ApiError, KubeApi
from kubedirector_core.runtime.listwatch import ListWatch
from kubedirector_core.validation import validate_config

log = logging.getLogger(__name__)

PLURAL: Final = "kubedirectorconfigs"

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


class ConfigWatch(ListWatch):
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
        super().__init__(
            api,
            collection_path(namespace),
            ("fieldSelector", f"metadata.name={name}"),
            what=name,
            forbidden_hint=f"grant the operator get, list and watch on {PLURAL} named {name} "
            f"in {namespace} (deploy/rbac.yaml)",
            thread_name="kd-global-config",
            timeout_seconds=timeout_seconds,
            backoff_seconds=backoff_seconds,
        )
        self.namespace = namespace
        self.name = name
        self.on_change = on_change
        self.synced = False

    def prime(self) -> None:
        """LIST the config (blocking) and report it; the watch resumes from this LIST."""
        listed = self.api.request("GET", self.path, query=[self.selector])
        items = listed.get("items") or []
        self.resume_from((listed.get("metadata") or {}).get("resourceVersion"))
        self.synced = True
        self.on_change(items[0] if items else None)

    def relist(self) -> None:
        """LIST again (after a 410 or an error) and report the config."""
        self.prime()

    def handle(self, kind: str, body: Mapping[str, Any]) -> None:
        """Report the config's new body, or ``None`` once it is deleted."""
        self.on_change(None if kind == "DELETED" else body)
