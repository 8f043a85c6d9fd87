"""pytest fixtures for plugin authors.

* ``kd_plugin_manager``: an isolated plugin manager holding only the core's
  defaults, whatever is installed and whatever the ``KD_*`` variables say.
* ``kd_hooks``: the typed facade over it, as the core calls plugins.
* ``kd_register_plugin``: register a throwaway plugin for one test.
* ``kd_hook_recorder``: every plugin call made through ``kd_hooks``.
* ``kd_load_app`` / ``kd_load_cluster``: read an app or a cluster from a
  JSON or YAML file, or from a mapping, into the core's models.
* ``kd_render``: the objects a new cluster gets, rendered offline through
  ``kd_hooks`` (:func:`kubedirector_core.plan.render_objects`).
* ``desired_members`` / ``role_resize``: the ``members`` and the ``resize`` a hook
  gets for a cluster, for unit tests.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.hooktypes import Member, ResizePhase, RoleResize
from kubedirector_core.plan import Manifest, render_objects
from kubedirector_core.pluginkit import requested_members
from kubedirector_core.plugins import (
    HookCall,
    Hooks,
    KubeDirectorPluginManager,
    PluginSettings,
    make_plugin_manager,
)

__all__ = [
    "HookRecorder",
    "PluginRegistrar",
    "desired_members",
    "isolated_hooks",
    "kd_hook_recorder",
    "kd_hooks",
    "kd_load_app",
    "kd_load_cluster",
    "kd_plugin_manager",
    "kd_register_plugin",
    "kd_render",
    "load_resource",
    "role_resize",
]

_Model = TypeVar("_Model", KubeDirectorApp, KubeDirectorCluster)

#: Settings that load no entry point, so tests see only what they register.
ISOLATED = PluginSettings(autoload=False)


def isolated_hooks(*plugins: tuple[str, object], settings: PluginSettings = ISOLATED) -> Hooks:
    """A facade over the core's defaults and ``plugins`` only, for use outside fixtures."""
    return Hooks(make_plugin_manager(settings, plugins=plugins, entry_points=()), settings)


@pytest.fixture
def kd_plugin_manager() -> KubeDirectorPluginManager:
    """A plugin manager with the core's defaults and no installed plugin."""
    return make_plugin_manager(ISOLATED, entry_points=())


@pytest.fixture
def kd_hooks(kd_plugin_manager: KubeDirectorPluginManager) -> Hooks:
    """The facade over ``kd_plugin_manager``; sees plugins registered later too."""
    return Hooks(kd_plugin_manager, ISOLATED)


@dataclass
class PluginRegistrar:
    """Registers throwaway plugins on a manager and removes them afterwards.

    Call it with hook functions (named after the hooks, decorated with
    :data:`kubedirector_core.hookimpl` or not) to register them as one
    plugin that claims ``claims``; or use :meth:`plugin` to register an
    existing plugin object (a module or an instance) as it is.
    """

    pm: KubeDirectorPluginManager
    registered: list[str] = field(default_factory=list)

    def __call__(
        self,
        *hooks: Callable[..., object],
        name: str | None = None,
        claims: Sequence[str] = ("*",),
    ) -> str:
        """Register ``hooks`` as one plugin claiming ``claims``; return its name."""
        patterns = tuple(claims)

        def kd_claims() -> Sequence[str]:
            return patterns

        functions = {hook.__name__: hook for hook in hooks}
        functions.setdefault("kd_claims", kd_claims)
        return self.plugin(types.SimpleNamespace(**functions), name=name)

    def plugin(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` under ``name`` (default ``throwaway-<n>``); return the name."""
        chosen = name or f"throwaway-{len(self.registered) + 1}"
        self.pm.register(plugin, name=chosen)
        try:
            self.pm.check_pending()
        except Exception:
            self.pm.unregister(name=chosen)
            raise
        self.registered.append(chosen)
        return chosen

    def remove_all(self) -> None:
        """Unregister every plugin this registrar added."""
        while self.registered:
            self.pm.unregister(name=self.registered.pop())


@pytest.fixture
def kd_register_plugin(kd_plugin_manager: KubeDirectorPluginManager) -> Iterator[PluginRegistrar]:
    """Register throwaway plugins on ``kd_plugin_manager`` for the length of a test."""
    registrar = PluginRegistrar(kd_plugin_manager)
    yield registrar
    registrar.remove_all()


@dataclass
class HookRecorder:
    """The plugin calls seen through a :class:`~kubedirector_core.plugins.Hooks`."""

    calls: list[HookCall] = field(default_factory=list)

    def of(self, hook: str) -> list[HookCall]:
        """The calls of ``hook``, in order."""
        return [call for call in self.calls if call.hook == hook]

    def plugins_called(self, hook: str | None = None) -> list[str]:
        """Plugin names called (for ``hook`` only, if given), in order."""
        return [call.plugin for call in self.calls if hook is None or call.hook == hook]


@pytest.fixture
def kd_hook_recorder(kd_hooks: Hooks) -> Iterator[HookRecorder]:
    """Record every plugin call made through ``kd_hooks`` during the test."""
    recorder = HookRecorder()
    remove = kd_hooks.add_observer(recorder.calls.append)
    yield recorder
    remove()


def _documents(source: str | Path | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(source, Mapping):
        return [source]
    text = Path(source).read_text(encoding="utf-8")
    if str(source).endswith(".json"):
        return [json.loads(text)]
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, Mapping)]


def load_resource(source: str | Path | Mapping[str, Any], model: type[_Model]) -> _Model:
    """Read the first document of ``model``'s kind from a file or a mapping.

    YAML files may hold several documents (and comments); the first one
    whose ``kind`` matches is used. Raises ``LookupError`` when none does.
    """
    for document in _documents(source):
        if document.get("kind") == model.__name__:
            return model.from_wire(document)
    raise LookupError(f"no {model.__name__} document in {source!r}")


def desired_members(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, domain: str = "kd.ns.svc.cluster.local"
) -> tuple[Member, ...]:
    """Every member ``cluster`` asks for, shaped as the core hands them to hooks (``members``).

    By role in spec order, then ordinal; pods named ``<cluster>-<role>-<ordinal>``
    with hostname ``<pod>.<domain>`` and node ids from 1. The core's real pod
    names carry a random part: plugins must take names from ``members``, never
    build them.
    """
    found: list[Member] = []
    for role in cluster.spec.roles:
        for ordinal in range(requested_members(app, role)):
            pod = f"{cluster.metadata.name}-{role.id}-{ordinal}"
            found.append(
                Member(
                    name=pod,
                    role=role.id,
                    ordinal=ordinal,
                    hostname=f"{pod}.{domain}",
                    node_id=len(found) + 1,
                )
            )
    return tuple(found)


def role_resize(
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
    role: str,
    current: int,
    domain: str = "kd.ns.svc.cluster.local",
) -> RoleResize:
    """The ``resize`` the core gives ``kd_on_resize`` when ``role`` goes from ``current``
    members to what ``cluster`` asks: before a shrink (the highest ordinals leave, highest
    first) or after a grow, with ``members`` from :func:`desired_members`.
    """
    members = desired_members(app, cluster, domain)
    spec = cluster.role(role)
    desired = requested_members(app, spec) if spec is not None else 0

    def member(ordinal: int) -> Member:
        pod = f"{cluster.metadata.name}-{role}-{ordinal}"
        return Member(
            name=pod,
            role=role,
            ordinal=ordinal,
            hostname=f"{pod}.{domain}",
            node_id=len(members) + ordinal + 1,
        )

    shrinking = current > desired
    return RoleResize(
        role=role,
        phase=ResizePhase.BEFORE_SHRINK if shrinking else ResizePhase.AFTER_GROW,
        current_members=current,
        desired_members=desired,
        leaving=tuple(member(i) for i in reversed(range(desired, current))),
        joining=tuple(m for m in members if m.role == role and m.ordinal >= current),
        members=members,
    )


@pytest.fixture
def kd_load_app() -> Callable[[str | Path | Mapping[str, Any]], KubeDirectorApp]:
    """A function reading a KubeDirectorApp from a JSON/YAML file or a mapping."""
    return lambda source: load_resource(source, KubeDirectorApp)


@pytest.fixture
def kd_load_cluster() -> Callable[[str | Path | Mapping[str, Any]], KubeDirectorCluster]:
    """A function reading a KubeDirectorCluster from a JSON/YAML file or a mapping."""
    return lambda source: load_resource(source, KubeDirectorCluster)


@pytest.fixture
def kd_render(
    kd_hooks: Hooks,
) -> Callable[[KubeDirectorApp, KubeDirectorCluster], list[Manifest]]:
    """A function rendering a new cluster's objects offline, with the plugins of ``kd_hooks``."""
    return lambda app, cluster: render_objects(app, cluster, kd_hooks)
