"""Finding, loading and calling plugins.

Build a :class:`Hooks` with :func:`load_hooks` (or :func:`make_plugin_manager`
and then :class:`Hooks`) once, at start-up; core code calls plugins only
through its methods, one per hook, and never touches ``pm.hook``.

:func:`make_plugin_manager` does, in order: add the hook specifications,
register the core's defaults (:mod:`kubedirector_core.defaults`), load the
entry points of the group ``kubedirector`` allowed by :class:`PluginSettings`,
read every plugin's claims, and check that every implemented hook exists.
A plugin that cannot be loaded stops start-up with a
:class:`~kubedirector_core.errors.PluginLoadError` naming it.

At run time :class:`Hooks` calls each implementation on its own, so that an
exception, a wrong return type or a call that exceeds the time limit is
raised as a :class:`~kubedirector_core.errors.PluginError` naming the plugin
and the hook. The reconciler turns that error into a status condition and
an Event with :class:`PluginFailure`.

Settings come from the environment (see :meth:`PluginSettings.from_env`):

``KD_PLUGINS``
    comma-separated allow-list of plugin names (entry-point names).
``KD_DISABLED_PLUGINS``
    comma-separated block-list of plugin names.
``KD_PLUGIN_AUTOLOAD``
    ``0`` loads no entry point except those named in ``KD_PLUGINS``.
``KD_EXTRA_PLUGINS``
    comma-separated importable module names loaded as plugins after the entry
    points, without installing a distribution (for development and tests).
    A module's plugin name is its ``KD_PLUGIN_NAME`` attribute, or else the
    module's name; ``KD_DISABLED_PLUGINS`` applies to it, ``KD_PLUGINS`` and
    ``KD_PLUGIN_AUTOLOAD`` do not (naming it is asking for it).
``KD_PLUGIN_TRACE``
    ``1`` logs every hook call on the logger ``kubedirector_core.plugins.trace``.
``KD_HOOK_TIMEOUT``
    seconds a plugin's hook may run (default 10; ``0`` for no limit).
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import importlib
import inspect
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import importlib_metadata
import pluggy

from kubedirector_core import defaults, hookspecs
from kubedirector_core.errors import PluginError, PluginLoadError
from kubedirector_core.hooktypes import (
    AutoscaleInput,
    ExecAction,
    GangPolicy,
    Member,
    MemberFile,
    MetricsEndpoint,
    MetricsReading,
    NodeDown,
    NodeDownDecision,
    ResizeDecision,
    ResizePhase,
    ResizeVerdict,
    RoleResize,
)
from kubedirector_core.problems import Problem

if TYPE_CHECKING:
    from kubedirector_core.api import ClusterRole, KubeDirectorApp, KubeDirectorCluster

#: The entry-point group plugins are published under.
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME

#: Every hook's name starts with this.
HOOK_PREFIX = "kd_"

#: Default time limit, in seconds, for one call of one plugin's hook.
DEFAULT_HOOK_TIMEOUT = 10.0

_log = logging.getLogger(__name__)
_trace_log = logging.getLogger(__name__ + ".trace")

_T = TypeVar("_T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


def _parse_flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r}: expected one of 1, 0, true, false, yes, no, on, off")


def _parse_names(raw: str) -> frozenset[str]:
    return frozenset(name for name in raw.replace(",", " ").split() if name)


def _parse_modules(raw: str) -> tuple[str, ...]:
    names = [name for name in raw.replace(",", " ").split() if name]
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"KD_EXTRA_PLUGINS: {name!r} is not a module name")
    return tuple(dict.fromkeys(names))


def _parse_timeout(environ: Mapping[str, str]) -> float | None:
    raw = environ.get("KD_HOOK_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_HOOK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"KD_HOOK_TIMEOUT={raw!r}: expected a number of seconds") from None
    if seconds < 0:
        raise ValueError(f"KD_HOOK_TIMEOUT={raw!r}: cannot be negative (0 means no limit)")
    return seconds or None


@dataclass(frozen=True, kw_only=True)
class PluginSettings:
    """Which plugins to load and how to call them.

    ``only`` is an allow-list (``None`` allows every plugin); ``disabled`` is
    a block-list and wins over ``only``; with ``autoload`` false, only the
    plugins named in ``only`` are loaded. ``hook_timeout`` is the time limit
    in seconds for one call of one plugin's hook (``None``: no limit).
    ``extra`` names modules imported and registered as plugins after the
    entry points (``disabled`` applies to them, ``only`` and ``autoload`` do
    not).
    """

    autoload: bool = True
    only: frozenset[str] | None = None
    disabled: frozenset[str] = frozenset()
    extra: tuple[str, ...] = ()
    trace: bool = False
    hook_timeout: float | None = DEFAULT_HOOK_TIMEOUT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PluginSettings:
        """Read the ``KD_*`` variables; raise ``ValueError`` naming a malformed one."""
        env = os.environ if environ is None else environ
        only = _parse_names(env.get("KD_PLUGINS", ""))
        return cls(
            autoload=_parse_flag(env, "KD_PLUGIN_AUTOLOAD", default=True),
            only=only or None,
            disabled=_parse_names(env.get("KD_DISABLED_PLUGINS", "")),
            extra=_parse_modules(env.get("KD_EXTRA_PLUGINS", "")),
            trace=_parse_flag(env, "KD_PLUGIN_TRACE", default=False),
            hook_timeout=_parse_timeout(env),
        )

    def allows(self, name: str) -> bool:
        """True when the plugin ``name`` may be loaded from its entry point."""
        if name in self.disabled:
            return False
        if self.only is not None:
            return name in self.only
        return self.autoload


# ---------------------------------------------------------------------------
# The plugin manager
# ---------------------------------------------------------------------------


class KubeDirectorPluginManager(pluggy.PluginManager):
    """A pluggy manager for the ``kubedirector`` project.

    Also accepts undecorated functions named ``kd_*`` as hook
    implementations (so that a misspelt one fails :meth:`check_pending`
    rather than being ignored), and remembers the distribution version of
    each plugin loaded from an entry point.
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        #: Distribution version by plugin name; ``None`` when not from a distribution.
        self.versions: dict[str, str | None] = {}
        #: Changes whenever a plugin is registered or removed.
        self.generation = 0

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """Marked functions, and undecorated functions whose name starts with ``kd_``."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None or not name.startswith(HOOK_PREFIX):
            return opts
        found = inspect.getattr_static(plugin, name, None)
        if not (inspect.isfunction(found) or isinstance(found, staticmethod | classmethod)):
            return None
        return pluggy.HookimplOpts(
            wrapper=False,
            hookwrapper=False,
            optionalhook=False,
            tryfirst=False,
            trylast=False,
            specname=None,
        )

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; see :meth:`pluggy.PluginManager.register`."""
        registered = super().register(plugin, name)
        self.generation += 1
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Remove a plugin; see :meth:`pluggy.PluginManager.unregister`."""
        removed = super().unregister(plugin, name)
        self.generation += 1
        return removed


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


def _register(pm: KubeDirectorPluginManager, name: str, plugin: object) -> None:
    """Register one plugin, refusing wrappers: the facade calls implementations one by one."""
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as err:
        raise PluginLoadError(name, f"cannot be registered: {err}") from err
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                pm.unregister(plugin)
                raise PluginLoadError(
                    name, f"{caller.name} is a hook wrapper; kubedirector hooks take no wrappers"
                )


def _load_entry_point(
    pm: KubeDirectorPluginManager, entry_point: importlib_metadata.EntryPoint
) -> None:
    dist = entry_point.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    try:
        plugin = entry_point.load()
    except Exception as err:
        raise PluginLoadError(
            entry_point.name,
            f"cannot import entry point {entry_point.value!r} of {origin}: "
            f"{type(err).__name__}: {err}. Fix or uninstall it, or disable it with "
            f"KD_DISABLED_PLUGINS={entry_point.name}",
        ) from err
    _register(pm, entry_point.name, plugin)
    pm.versions[entry_point.name] = dist.version if dist is not None else None


def _load_module(pm: KubeDirectorPluginManager, settings: PluginSettings, module: str) -> None:
    """Import ``module`` (named in ``KD_EXTRA_PLUGINS``) and register it unless disabled."""
    try:
        plugin = importlib.import_module(module)
    except Exception as err:
        raise PluginLoadError(
            module,
            f"cannot import module {module!r} named in KD_EXTRA_PLUGINS: "
            f"{type(err).__name__}: {err}",
        ) from err
    name = getattr(plugin, "KD_PLUGIN_NAME", None) or module
    if not isinstance(name, str):
        raise PluginLoadError(module, f"KD_PLUGIN_NAME must be a string, got {name!r}")
    if name in settings.disabled:
        return
    if pm.has_plugin(name):
        raise PluginLoadError(
            name,
            f"cannot be registered from module {module!r}: the name is taken; "
            "plugin names must be unique",
        )
    _register(pm, name, plugin)
    version = getattr(plugin, "__version__", None)
    pm.versions[name] = version if isinstance(version, str) else None


def _installed_entry_points() -> list[importlib_metadata.EntryPoint]:
    return list(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP))


def make_plugin_manager(
    settings: PluginSettings | None = None,
    *,
    plugins: Iterable[tuple[str, object]] = (),
    entry_points: Iterable[importlib_metadata.EntryPoint] | None = None,
) -> KubeDirectorPluginManager:
    """Build the plugin manager; nothing is loaded at import time.

    :param settings: which entry points to load; read from the environment
        when ``None``.
    :param plugins: ``(name, plugin)`` pairs registered directly, after the
        core's defaults and before entry points (settings do not apply).
    :param entry_points: the entry points to consider instead of the
        installed ones of group ``kubedirector`` (for tests).
    :raises PluginLoadError: a plugin failed to import or register, claims
        badly, implements an unknown hook, or ``settings.only`` names a
        plugin that is not installed.
    """
    settings = PluginSettings.from_env() if settings is None else settings
    pm = KubeDirectorPluginManager()
    pm.add_hookspecs(hookspecs)
    _register(pm, defaults.NAME, defaults)
    pm.versions[defaults.NAME] = _core_version()
    for name, plugin in plugins:
        _register(pm, name, plugin)
        pm.versions.setdefault(name, None)
    available = _installed_entry_points() if entry_points is None else list(entry_points)
    for entry_point in sorted(available, key=lambda ep: ep.name):
        if not settings.allows(entry_point.name):
            continue
        if pm.has_plugin(entry_point.name):
            raise PluginLoadError(
                entry_point.name,
                "cannot be registered: the name is taken (by the core's defaults or "
                "another distribution); plugin names must be unique",
            )
        _load_entry_point(pm, entry_point)
    for module in settings.extra:
        _load_module(pm, settings, module)
    missing = sorted(
        (settings.only or frozenset())
        - settings.disabled
        - {ep.name for ep in available}
        - {name for name, _ in pm.list_name_plugin()}
    )
    if missing:
        raise PluginLoadError(
            missing[0],
            f"is named in KD_PLUGINS but no installed distribution has an entry point of "
            f"that name in group {ENTRY_POINT_GROUP!r}",
        )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        raise PluginLoadError(
            _plugin_name(pm, err.plugin), f"{err}; check the hook's name in docs/hooks.md"
        ) from err
    read_claims(pm)
    return pm


def _core_version() -> str:
    from kubedirector_core import __version__

    return __version__


def read_claims(pm: pluggy.PluginManager) -> dict[str, tuple[str, ...]]:
    """Return each plugin's claimed app-type patterns, by plugin name.

    Plugins that implement hooks other than ``kd_claims`` but claim nothing
    are logged as a warning: they will never be called.

    :raises PluginLoadError: a ``kd_claims`` raised or returned something
        other than a sequence of strings.
    """
    claims: dict[str, tuple[str, ...]] = {}
    for impl in pm.hook.kd_claims.get_hookimpls():
        try:
            patterns = impl.function()
        except Exception as err:
            raise PluginLoadError(
                impl.plugin_name, f"kd_claims raised {err!r}", "kd_claims"
            ) from err
        if isinstance(patterns, str) or not isinstance(patterns, Iterable):
            raise PluginLoadError(
                impl.plugin_name,
                f"kd_claims must return a sequence of patterns, got {patterns!r}",
                "kd_claims",
            )
        patterns = tuple(patterns)
        if not all(isinstance(pattern, str) and pattern for pattern in patterns):
            raise PluginLoadError(
                impl.plugin_name,
                f"kd_claims returned a non-string pattern: {patterns!r}",
                "kd_claims",
            )
        claims[impl.plugin_name] = patterns
    for name, plugin in pm.list_name_plugin():
        callers = pm.get_hookcallers(plugin) or []
        if name not in claims and any(caller.name != "kd_claims" for caller in callers):
            _log.warning("plugin %r implements hooks but claims no app type (kd_claims)", name)
    return claims


def app_identity(app: KubeDirectorApp) -> tuple[str, ...]:
    """The names claims are matched against: the app's distroID and its name."""
    names = (app.spec.distro_id, app.metadata.name)
    return tuple(name for name in names if name)


def claims_match(patterns: Iterable[str], app: KubeDirectorApp) -> bool:
    """True when any pattern matches the app's distroID or name."""
    identity = app_identity(app)
    return any(fnmatchcase(name, pattern) for pattern in patterns for name in identity)


# ---------------------------------------------------------------------------
# Observing calls, and reporting failures
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HookCall:
    """One call of one plugin's hook, as seen by observers (trace, recorders)."""

    hook: str
    plugin: str
    arguments: Mapping[str, object]
    result: object = None
    error: PluginError | None = None
    seconds: float = 0.0


HookObserver = Callable[[HookCall], None]


def _describe(value: object) -> str:
    """A short, secret-free description of a hook argument or result for logs."""
    metadata = getattr(value, "metadata", None)
    kind = getattr(value, "kind", None)
    if metadata is not None and isinstance(kind, str):
        return f"{kind} {getattr(metadata, 'name', '?')}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__}[{len(value)}]"
    if isinstance(value, dict):
        return "dict"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _trace(call: HookCall) -> None:
    arguments = ", ".join(f"{name}={_describe(arg)}" for name, arg in call.arguments.items())
    outcome = f"raised {call.error}" if call.error else f"returned {_describe(call.result)}"
    _trace_log.info(
        "%s[%s](%s) %s in %.1f ms", call.hook, call.plugin, arguments, outcome, call.seconds * 1e3
    )


@dataclass(frozen=True, kw_only=True)
class PluginFailure:
    """What the reconciler reports when a hook fails for a cluster.

    The reconciler catches :class:`~kubedirector_core.errors.PluginError` for
    one cluster, writes :meth:`condition` into that cluster's status, emits a
    Warning Event with :attr:`EVENT_REASON` and :attr:`message`, and goes on
    with other clusters.
    """

    CONDITION_TYPE: ClassVar[str] = "PluginFailed"
    EVENT_REASON: ClassVar[str] = "PluginFailed"

    plugin: str
    hook: str | None
    message: str

    @classmethod
    def from_error(cls, error: PluginError) -> PluginFailure:
        """Describe ``error``; its message already names the plugin and hook."""
        return cls(plugin=error.plugin, hook=error.hook, message=str(error))

    def condition(self, *, now: datetime, observed_generation: int | None = None) -> dict[str, Any]:
        """A Kubernetes status condition (``type``, ``status``, ``reason``, ...)."""
        condition: dict[str, Any] = {
            "type": self.CONDITION_TYPE,
            "status": "True",
            "reason": "HookFailed",
            "message": self.message,
            "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if observed_generation is not None:
            condition["observedGeneration"] = observed_generation
        return condition


# ---------------------------------------------------------------------------
# The facade
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin as ``kubedirector plugins`` shows it."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    claims: tuple[str, ...]


class _TimedOut(Exception):
    pass


def _call_with_time_limit(
    function: Callable[..., object],
    args: Sequence[object],
    kwargs: Mapping[str, object],
    seconds: float,
    thread_name: str,
) -> object:
    """Call ``function`` in a daemon thread; raise :class:`_TimedOut` after ``seconds``.

    Python cannot stop the thread: a hung call keeps running in the
    background, but the reconcile that made it goes on.
    """
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, function(*args, **kwargs)))
        except BaseException as err:  # handed back to the calling thread
            outcome.append((False, err))

    # The caller's context goes along: the hook's log lines name the cluster being reconciled.
    worker = threading.Thread(
        target=contextvars.copy_context().run, args=(run,), name=thread_name, daemon=True
    )
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise _TimedOut
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value


class Hooks:
    """Typed calls into the plugins: one method per hook.

    Each method calls only the plugins that claim ``app``, in pluggy's order
    (``tryfirst`` first, ``trylast`` last, otherwise the plugin registered
    last first), combines their answers as documented in
    :mod:`kubedirector_core.hookspecs`, and raises
    :class:`~kubedirector_core.errors.PluginError` naming the plugin and hook
    when one raises, returns the wrong type, or exceeds the time limit. The
    validate methods instead report such a failure as a problem, and satisfy
    the ``plugin_rules`` protocol of :mod:`kubedirector_core.validation`.
    """

    def __init__(
        self, pm: KubeDirectorPluginManager, settings: PluginSettings | None = None
    ) -> None:
        self._pm = pm
        self._settings = PluginSettings() if settings is None else settings
        self._observers: list[HookObserver] = []
        self._claims: tuple[int, dict[str, tuple[str, ...]]] | None = None
        if self._settings.trace:
            self._observers.append(_trace)

    @property
    def plugin_manager(self) -> KubeDirectorPluginManager:
        """The underlying manager, for registering plugins in tests."""
        return self._pm

    def add_observer(self, observer: HookObserver) -> Callable[[], None]:
        """Call ``observer`` after every plugin call; returns a function that removes it."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    # -- discovery ---------------------------------------------------------

    def claims(self) -> dict[str, tuple[str, ...]]:
        """Each plugin's claimed app-type patterns, by plugin name."""
        if self._claims is None or self._claims[0] != self._pm.generation:
            self._claims = (self._pm.generation, read_claims(self._pm))
        return dict(self._claims[1])

    def claimed_by(self, app: KubeDirectorApp) -> list[str]:
        """Names of the plugins that claim ``app`` (the core's defaults included)."""
        return sorted(
            name for name, patterns in self.claims().items() if claims_match(patterns, app)
        )

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with its version, implemented hooks and claims."""
        claims = self.claims()
        listing = []
        for name, plugin in sorted(self._pm.list_name_plugin()):
            hooks = sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ())
            listing.append(
                PluginInfo(
                    name=name,
                    version=self._pm.versions.get(name),
                    hooks=tuple(hooks),
                    claims=claims.get(name, ()),
                )
            )
        return listing

    # -- validation --------------------------------------------------------

    def validate_app(self, app: KubeDirectorApp) -> list[Problem]:
        """Problems the plugins claiming ``app`` find in it (``kd_validate_app``)."""
        return self._problems("kd_validate_app", app, {"app": app})

    def validate_cluster(
        self, cluster: KubeDirectorCluster, app: KubeDirectorApp, old: KubeDirectorCluster | None
    ) -> list[Problem]:
        """Problems the plugins claiming ``app`` find in ``cluster`` (``kd_validate_cluster``)."""
        arguments = {"cluster": cluster, "app": app, "old": old}
        return self._problems("kd_validate_cluster", app, arguments)

    # -- rendering ---------------------------------------------------------

    def pre_create(
        self,
        app: KubeDirectorApp,
        cluster: KubeDirectorCluster,
        role: ClusterRole,
        objects: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """The role's objects after every claiming plugin adjusted them (``kd_pre_create``).

        ``objects`` itself is never modified: plugins work on a deep copy. With
        no claiming plugin nothing is copied deeply (the planner's hot path): the
        result's objects are new dicts sharing their values with ``objects``.
        """
        hook = "kd_pre_create"
        impls = list(self._impls(hook, app))
        if not impls:
            return [dict(obj) for obj in objects]
        current: list[dict[str, Any]] = copy.deepcopy([dict(obj) for obj in objects])
        for impl in impls:
            arguments = {"app": app, "cluster": cluster, "role": role, "objects": current}
            result = self._invoke(hook, impl, arguments)
            if result is None:
                continue
            if not isinstance(result, list) or not all(isinstance(o, dict) for o in result):
                raise self._bad_result(impl.plugin_name, hook, "a list of dicts or None", result)
            current = result
        return current

    def configmeta(
        self,
        app: KubeDirectorApp,
        cluster: KubeDirectorCluster,
        members: Sequence[Member] = (),
    ) -> dict[str, Any]:
        """Extra configmeta by plugin name, for ``plugin_metadata`` (``kd_configmeta``).

        ``members`` is every desired member of the cluster (see the hook).
        """
        hook = "kd_configmeta"
        metadata: dict[str, Any] = {}
        arguments = {"app": app, "cluster": cluster, "members": tuple(members)}
        for plugin, result in self._each(hook, app, arguments):
            if result is None:
                continue
            if not isinstance(result, Mapping):
                raise self._bad_result(plugin, hook, "a mapping or None", result)
            try:
                metadata[plugin] = json.loads(json.dumps(dict(result), sort_keys=True))
            except (TypeError, ValueError) as err:
                raise PluginError(
                    plugin, f"returned metadata that is not JSON: {err}", hook
                ) from err
        return metadata

    def member_files(
        self,
        app: KubeDirectorApp,
        cluster: KubeDirectorCluster,
        role: ClusterRole,
        member: Member,
        members: Sequence[Member] = (),
    ) -> list[MemberFile]:
        """Files for ``member`` from every claiming plugin (``kd_member_files``).

        ``members`` is every desired member of the cluster (see the hook).
        """
        hook = "kd_member_files"
        arguments = {
            "app": app,
            "cluster": cluster,
            "role": role,
            "member": member,
            "members": tuple(members),
        }
        files: dict[str, tuple[str, MemberFile]] = {}
        for plugin, result in self._each(hook, app, arguments):
            for member_file in self._sequence_of(plugin, hook, result, MemberFile):
                if member_file.path in files:
                    other = files[member_file.path][0]
                    raise PluginError(
                        plugin,
                        f"writes {member_file.path}, which plugin {other!r} writes too",
                        hook,
                    )
                files[member_file.path] = (plugin, member_file)
        return [member_file for _, member_file in files.values()]

    def gang_policy(self, app: KubeDirectorApp, cluster: KubeDirectorCluster) -> GangPolicy | None:
        """The first gang policy a claiming plugin gives, or ``None`` (``kd_gang_policy``)."""
        return self._first("kd_gang_policy", app, {"app": app, "cluster": cluster}, GangPolicy)

    # -- lifecycle ---------------------------------------------------------

    def member_readiness(
        self,
        app: KubeDirectorApp,
        cluster: KubeDirectorCluster,
        role: ClusterRole,
        member: Member,
        members: Sequence[Member] = (),
    ) -> ExecAction | None:
        """The check that makes ``member`` ready, or ``None`` (``kd_member_readiness``).

        ``members`` is every desired member of the cluster (see the hook).
        """
        answer = self.member_readiness_from(app, cluster, role, member, members)
        return answer[0] if answer is not None else None

    def member_readiness_from(
        self,
        app: KubeDirectorApp,
        cluster: KubeDirectorCluster,
        role: ClusterRole,
        member: Member,
        members: Sequence[Member] = (),
    ) -> tuple[ExecAction, str] | None:
        """As :meth:`member_readiness`, with the name of the plugin that answered."""
        hook = "kd_member_readiness"
        arguments = {
            "app": app,
            "cluster": cluster,
            "role": role,
            "member": member,
            "members": tuple(members),
        }
        for plugin, result in self._each(hook, app, arguments):
            if result is None:
                continue
            if not isinstance(result, ExecAction):
                raise self._bad_result(plugin, hook, "a ExecAction or None", result)
            return result, plugin
        return None

    def on_resize(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, resize: RoleResize
    ) -> ResizeDecision:
        """The combined resize decision of the claiming plugins (``kd_on_resize``).

        A refusal wins (and stops asking), then waits, whose actions and
        reasons are combined; with no objection the resize proceeds. A plugin's
        ``WAIT`` whose actions are all in ``resize.done_keys`` counts as its
        ``PROCEED`` (a ``WAIT`` without actions never does).
        """
        hook = "kd_on_resize"
        waits: list[tuple[str, ResizeDecision]] = []
        for plugin, result in self._each(
            hook, app, {"app": app, "cluster": cluster, "resize": resize}
        ):
            if result is None:
                continue
            if not isinstance(result, ResizeDecision):
                raise self._bad_result(plugin, hook, "a ResizeDecision or None", result)
            if result.verdict is ResizeVerdict.REFUSE:
                if resize.phase is ResizePhase.AFTER_GROW:
                    raise PluginError(plugin, "refused a resize after the role already grew", hook)
                return ResizeDecision.refuse(f"{plugin}: {result.reason}")
            if result.verdict is ResizeVerdict.WAIT and not _all_done(result, resize):
                waits.append((plugin, result))
        if not waits:
            return ResizeDecision.proceed()
        delays = [d.retry_after_seconds for _, d in waits if d.retry_after_seconds is not None]
        return ResizeDecision.wait(
            *(action for _, decision in waits for action in decision.actions),
            reason="; ".join(f"{plugin}: {d.reason}" for plugin, d in waits if d.reason),
            retry_after_seconds=min(delays) if delays else None,
        )

    def on_config_change(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, old: KubeDirectorCluster
    ) -> list[ExecAction]:
        """Actions the claiming plugins ask for after a change (``kd_on_config_change``)."""
        hook = "kd_on_config_change"
        actions: list[ExecAction] = []
        for plugin, result in self._each(hook, app, {"app": app, "cluster": cluster, "old": old}):
            actions.extend(self._sequence_of(plugin, hook, result, ExecAction))
        return actions

    # -- policies ----------------------------------------------------------

    def on_node_down(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, event: NodeDown
    ) -> NodeDownDecision:
        """What to do about a member on a failed node (``kd_on_node_down``; never ``None``)."""
        return self.node_down_decision(app, cluster, event)[0]

    def node_down_decision(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, event: NodeDown
    ) -> tuple[NodeDownDecision, str]:
        """As :meth:`on_node_down`, with the name of the plugin that decided (``core``: default)."""
        hook = "kd_on_node_down"
        arguments = {"app": app, "cluster": cluster, "event": event}
        for plugin, result in self._each(hook, app, arguments):
            if result is None:
                continue
            if not isinstance(result, NodeDownDecision):
                raise self._bad_result(plugin, hook, "a NodeDownDecision or None", result)
            return result, plugin
        raise PluginError(defaults.NAME, "no implementation answered", hook)

    def autoscale_policy(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
    ) -> int:
        """The desired member count, clamped to the role's bounds (``kd_autoscale_policy``).

        An answer that is not an ``int`` (``bool`` included) or is negative is a
        :class:`~kubedirector_core.errors.PluginError` naming the plugin.
        """
        return self.autoscale_decision(app, cluster, request)[0]

    def autoscale_decision(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, request: AutoscaleInput
    ) -> tuple[int, str]:
        """As :meth:`autoscale_policy`, with the name of the plugin that answered."""
        arguments = {"app": app, "cluster": cluster, "request": request}
        hook = "kd_autoscale_policy"
        for plugin, result in self._each(hook, app, arguments):
            if result is None:
                continue
            if not isinstance(result, int) or isinstance(result, bool):
                raise self._bad_result(plugin, hook, "an int or None", result)
            if result < 0:
                raise PluginError(plugin, f"returned {result}, a negative member count", hook)
            return request.clamp(result), plugin
        raise PluginError(defaults.NAME, "no implementation answered", hook)

    def metrics_endpoint(
        self,
        app: KubeDirectorApp,
        cluster: KubeDirectorCluster,
        role: str,
        members: Sequence[Member] = (),
    ) -> MetricsEndpoint | None:
        """Where a Plugin-sourced role's metrics are read, or ``None`` (``kd_metrics_endpoint``)."""
        arguments = {"app": app, "cluster": cluster, "role": role, "members": tuple(members)}
        return self._first("kd_metrics_endpoint", app, arguments, MetricsEndpoint)

    def read_metrics(
        self, app: KubeDirectorApp, cluster: KubeDirectorCluster, reading: MetricsReading
    ) -> tuple[dict[str, float], str] | None:
        """The metrics a plugin read from ``reading``, with its name; ``None`` if none answered.

        An answer that is not a mapping of strings to finite numbers (``bool``
        excluded) is a :class:`~kubedirector_core.errors.PluginError` naming the
        plugin (``kd_read_metrics``).
        """
        hook = "kd_read_metrics"
        arguments = {"app": app, "cluster": cluster, "reading": reading}
        expected = "a mapping of metric names to finite numbers, or None"
        for plugin, result in self._each(hook, app, arguments):
            if result is None:
                continue
            if not isinstance(result, Mapping):
                raise self._bad_result(plugin, hook, expected, result)
            metrics: dict[str, float] = {}
            for name, value in result.items():
                if not isinstance(name, str) or not _finite_number(value):
                    raise self._bad_result(plugin, hook, expected, {name: value})
                metrics[name] = float(value)
            return metrics, plugin
        return None

    # -- calling -----------------------------------------------------------

    def _impls(self, hook: str, app: KubeDirectorApp) -> Iterator[pluggy.HookImpl]:
        """The implementations of ``hook`` whose plugin claims ``app``, in call order."""
        claims = self.claims()
        for impl in reversed(getattr(self._pm.hook, hook).get_hookimpls()):
            if claims_match(claims.get(impl.plugin_name, ()), app):
                yield impl

    def _each(
        self, hook: str, app: KubeDirectorApp, arguments: Mapping[str, object]
    ) -> Iterator[tuple[str, object]]:
        for impl in self._impls(hook, app):
            yield impl.plugin_name, self._invoke(hook, impl, arguments)

    def _first(
        self, hook: str, app: KubeDirectorApp, arguments: Mapping[str, object], kind: type[_T]
    ) -> _T | None:
        for plugin, result in self._each(hook, app, arguments):
            if result is None:
                continue
            if not isinstance(result, kind) or isinstance(result, bool):
                raise self._bad_result(plugin, hook, f"a {kind.__name__} or None", result)
            return result
        return None

    def _problems(
        self, hook: str, app: KubeDirectorApp, arguments: Mapping[str, object]
    ) -> list[Problem]:
        problems: list[Problem] = []
        for impl in self._impls(hook, app):
            plugin = impl.plugin_name
            try:
                found = self._sequence_of(
                    plugin, hook, self._invoke(hook, impl, arguments), Problem
                )
            except PluginError as err:
                message = (
                    f"{err}; the resource could not be checked "
                    f"(disable the plugin with KD_DISABLED_PLUGINS={plugin})"
                )
                problems.append(Problem("", message, source=plugin))
                continue
            problems.extend(p if p.source else dataclasses.replace(p, source=plugin) for p in found)
        return problems

    def _sequence_of(self, plugin: str, hook: str, result: object, kind: type[_T]) -> list[_T]:
        if result is None:
            return []
        if isinstance(result, str | bytes | Mapping) or not isinstance(result, Sequence):
            raise self._bad_result(plugin, hook, f"a sequence of {kind.__name__} or None", result)
        items = list(result)
        for item in items:
            if not isinstance(item, kind):
                raise self._bad_result(plugin, hook, f"a sequence of {kind.__name__} or None", item)
        return items

    def _invoke(self, hook: str, impl: pluggy.HookImpl, arguments: Mapping[str, object]) -> object:
        """Call one implementation with the arguments it names; failures name its plugin."""
        plugin = impl.plugin_name
        args = [arguments[name] for name in impl.argnames]
        kwargs = {name: arguments[name] for name in impl.kwargnames if name in arguments}
        limit = None if plugin == defaults.NAME else self._settings.hook_timeout
        started = time.perf_counter()
        error: PluginError | None = None
        result: object = None
        try:
            if limit is None:
                result = impl.function(*args, **kwargs)
            else:
                result = _call_with_time_limit(
                    impl.function, args, kwargs, limit, f"kd-hook:{hook}:{plugin}"
                )
        except _TimedOut:
            error = PluginError(plugin, f"did not return within {limit:g} s", hook)
        except Exception as err:
            error = PluginError(plugin, f"raised {type(err).__name__}: {err}", hook)
            error.__cause__ = err
        call = HookCall(
            hook=hook,
            plugin=plugin,
            arguments={name: arguments[name] for name in (*impl.argnames, *kwargs)},
            result=result,
            error=error,
            seconds=time.perf_counter() - started,
        )
        for observer in self._observers:
            observer(call)
        if error is not None:
            raise error
        return result

    @staticmethod
    def _bad_result(plugin: str, hook: str, expected: str, got: object) -> PluginError:
        return PluginError(plugin, f"returned {_describe(got)}, expected {expected}", hook)

    @staticmethod
    def _answered(result: _T | None, hook: str) -> _T:
        if result is None:  # the core's default always answers
            raise PluginError(defaults.NAME, "no implementation answered", hook)
        return result


def _finite_number(value: object) -> bool:
    """True for an ``int`` or ``float`` (not a ``bool``) that is finite."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _all_done(decision: ResizeDecision, resize: RoleResize) -> bool:
    """True when a ``WAIT`` carries actions and every one of them is done."""
    return bool(decision.actions) and all(resize.is_done(a) for a in decision.actions)


def load_hooks(settings: PluginSettings | None = None) -> Hooks:
    """Build the plugin manager from ``settings`` (or the environment) and its facade."""
    settings = PluginSettings.from_env() if settings is None else settings
    return Hooks(make_plugin_manager(settings), settings)


__all__ = [
    "DEFAULT_HOOK_TIMEOUT",
    "ENTRY_POINT_GROUP",
    "HookCall",
    "HookObserver",
    "Hooks",
    "KubeDirectorPluginManager",
    "PluginFailure",
    "PluginInfo",
    "PluginSettings",
    "app_identity",
    "claims_match",
    "load_hooks",
    "make_plugin_manager",
    "read_claims",
]
