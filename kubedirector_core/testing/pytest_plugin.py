"""The pytest plugin: fixtures for the local control plane and for plugin authors."""

from __future__ import annotations

from kubedirector_core.testing.controlplane import *  # noqa: F403  (fixtures)
from kubedirector_core.testing.operator import *  # noqa: F403  (fixtures)
from kubedirector_core.testing.plugin_fixtures import *  # noqa: F403  (fixtures)
