"""Checks for a plugin installed as a distribution: found, disabled by name, its catalog used.

Subclass :class:`InstalledPluginChecks` as ``Test...`` in the plugin's tests,
set the class attributes and the ``kd_plugin`` and ``kd_example`` fixtures;
each check skips, saying how to install, when the distribution is not
installed. The :class:`~kubedirector_core.testing.conformance.PluginConformance`
suite checks the hooks themselves; these check the packaging around them.
"""

from __future__ import annotations

import importlib.metadata
from types import ModuleType
from typing import ClassVar

import pytest

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.catalog import load_catalog
from kubedirector_core.plan import render_objects
from kubedirector_core.plugins import PluginSettings, load_hooks
from kubedirector_core.testing.plugin_fixtures import isolated_hooks

__all__ = ["InstalledPluginChecks"]


class InstalledPluginChecks:
    """Tests every installed plugin must pass; subclass it as ``Test...`` and fill it in."""

    #: The plugin's name (its entry-point name in the group ``kubedirector``).
    plugin_name: ClassVar[str]
    #: The distribution that installs it (``kd-hadoop``).
    distribution: ClassVar[str]
    #: An app its ``kubedirector.catalog`` entry point ships, and that it claims.
    catalog_app: ClassVar[str]

    @pytest.fixture
    def kd_plugin(self) -> object:
        """The plugin object the entry point names (usually a module)."""
        raise NotImplementedError("override the kd_plugin fixture")

    @pytest.fixture
    def kd_example(self) -> tuple[KubeDirectorApp, KubeDirectorCluster]:
        """An app and a valid cluster of it (the plugin's example)."""
        raise NotImplementedError("override the kd_example fixture")

    @pytest.fixture
    def kd_version(self) -> str:
        """The installed distribution's version; skips when it is not installed."""
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{self.distribution} is not installed: pip install {self.distribution}")

    def test_discovered_through_its_entry_point(self, kd_version: str, kd_plugin: object) -> None:
        listing = {info.name: info for info in load_hooks(PluginSettings()).plugins()}

        assert listing[self.plugin_name].version == kd_version
        claims = getattr(kd_plugin, "kd_claims", None)
        assert callable(claims)
        assert listing[self.plugin_name].claims == tuple(claims())

    def test_claims_its_app_until_disabled_by_name(self, kd_version: str) -> None:
        app = load_catalog([], include_installed=True).get(self.catalog_app).app
        enabled = load_hooks(PluginSettings())
        off = PluginSettings.from_env({"KD_DISABLED_PLUGINS": self.plugin_name})
        disabled = load_hooks(off)

        assert self.plugin_name in enabled.claimed_by(app)
        assert self.plugin_name not in disabled.claimed_by(app)
        assert self.plugin_name not in [info.name for info in disabled.plugins()]

    def test_ships_its_catalog_through_the_catalog_entry_point(
        self, kd_version: str, kd_plugin: object
    ) -> None:
        module = (
            kd_plugin.__name__ if isinstance(kd_plugin, ModuleType) else type(kd_plugin).__module__
        )
        top = module.partition(".")[0]
        catalog = load_catalog([], include_installed=True)

        entry = catalog.get(self.catalog_app)
        assert top in entry.source
        assert [str(p) for p in catalog.problems if top in p.source] == []

    def test_the_example_cluster_renders_offline_with_the_plugin(
        self, kd_plugin: object, kd_example: tuple[KubeDirectorApp, KubeDirectorCluster]
    ) -> None:
        """The core's planner renders the example with the plugin's hooks in the loop."""
        hooks = isolated_hooks((self.plugin_name, kd_plugin))
        app, cluster = kd_example
        assert [p for p in hooks.validate_cluster(cluster, app, None) if p.is_error] == []

        objects = render_objects(app, cluster, hooks)

        statefulsets = {
            o["metadata"]["labels"]["kubedirector.hpe.com/role"]
            for o in objects
            if o["kind"] == "StatefulSet"
        }
        assert statefulsets == {role.id for role in cluster.spec.roles if role.members}
