"""kubedirector-core: the public API.

Everything a plugin author or an integrator may rely on is re-exported here
and listed in ``__all__``; anything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from kubedirector_core.api import (
    GROUP,
    VERSION,
    AppRole,
    AppService,
    ClusterRole,
    ClusterStatus,
    KubeDirectorApp,
    KubeDirectorCluster,
    KubeDirectorConfig,
    MemberStatus,
    Resources,
    RoleStatus,
    parse_quantity,
)
from kubedirector_core.errors import (
    CatalogError,
    InvalidResourceError,
    KubeDirectorError,
    PluginError,
    PluginLoadError,
)
from kubedirector_core.hookspecs import hookimpl, hookspec
from kubedirector_core.hooktypes import (
    CPU_UTILIZATION,
    GANG_SCHEDULING_GATE,
    AutoscaleInput,
    DoneWhen,
    ExecAction,
    GangPolicy,
    Member,
    MemberFile,
    NodeDown,
    NodeDownAction,
    NodeDownDecision,
    NodeProblem,
    ResizeDecision,
    ResizePhase,
    ResizeVerdict,
    RoleResize,
)
from kubedirector_core.plugins import (
    Hooks,
    PluginFailure,
    PluginSettings,
    load_hooks,
    make_plugin_manager,
)
from kubedirector_core.problems import Problem, Severity
from kubedirector_core.setuppackage import build_setup_package

__all__ = [
    "CPU_UTILIZATION",
    "GANG_SCHEDULING_GATE",
    "GROUP",
    "VERSION",
    "AppRole",
    "AppService",
    "AutoscaleInput",
    "CatalogError",
    "ClusterRole",
    "ClusterStatus",
    "DoneWhen",
    "ExecAction",
    "GangPolicy",
    "Hooks",
    "InvalidResourceError",
    "KubeDirectorApp",
    "KubeDirectorCluster",
    "KubeDirectorConfig",
    "KubeDirectorError",
    "Member",
    "MemberFile",
    "MemberStatus",
    "NodeDown",
    "NodeDownAction",
    "NodeDownDecision",
    "NodeProblem",
    "PluginError",
    "PluginFailure",
    "PluginLoadError",
    "PluginSettings",
    "Problem",
    "ResizeDecision",
    "ResizePhase",
    "ResizeVerdict",
    "Resources",
    "RoleResize",
    "RoleStatus",
    "Severity",
    "__version__",
    "build_setup_package",
    "hookimpl",
    "hookspec",
    "load_hooks",
    "make_plugin_manager",
    "parse_quantity",
]
