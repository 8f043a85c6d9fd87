"""The exception hierarchy of kubedirector-core, in one place.

::

    KubeDirectorError
     ├── InvalidResourceError      a resource failed validation (carries its problems)
     ├── CatalogError              an app definition could not be found or loaded
     ├── PluginError               a plugin failed to load or a hook failed at run time
     │    └── PluginLoadError
     └── DevClusterError           the local control plane could not be built or run
"""

from __future__ import annotations

from collections.abc import Sequence

from kubedirector_core.problems import Problem


class KubeDirectorError(Exception):
    """Base of every error raised on purpose by kubedirector-core."""


class InvalidResourceError(KubeDirectorError):
    """A resource failed validation; ``problems`` says where and why."""

    def __init__(self, problems: Sequence[Problem], what: str = "resource") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid {what}:\n{lines}")


class CatalogError(KubeDirectorError):
    """An app definition could not be found, read or parsed."""


class PluginError(KubeDirectorError):
    """A plugin failed; the message names the plugin and, at run time, the hook."""

    def __init__(self, plugin: str, message: str, hook: str | None = None) -> None:
        self.plugin = plugin
        self.hook = hook
        where = f"plugin {plugin!r}" + (f" in hook {hook}" if hook else "")
        super().__init__(f"{where}: {message}")


class PluginLoadError(PluginError):
    """A plugin's entry point could not be imported or registered."""


class DevClusterError(KubeDirectorError):
    """The local control plane could not be built, started or reached."""
