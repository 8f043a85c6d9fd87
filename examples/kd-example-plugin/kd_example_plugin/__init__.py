"""An example kubedirector plugin, using only the public API of ``kubedirector_core``.

For the apps it claims it labels every member with the cluster's team, tells
the members their team through configmeta, and refuses roles of more than
:data:`MAX_MEMBERS` members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubedirector_core import KubeDirectorCluster, Problem, hookimpl

#: The cluster label naming the team that owns it; copied onto every member.
TEAM_LABEL = "example.com/team"

#: The largest role this example lets a cluster ask for.
MAX_MEMBERS = 5


def _team(cluster: KubeDirectorCluster) -> str:
    return (cluster.metadata.labels or {}).get(TEAM_LABEL, "unassigned")


@hookimpl
def kd_claims() -> Sequence[str]:
    """Every app of the ``example`` distro, and the Jupyter notebook app."""
    return ("example/*", "hpecp/jupyter-notebook")


@hookimpl
def kd_validate_cluster(cluster: KubeDirectorCluster) -> list[Problem]:
    """Refuse roles larger than MAX_MEMBERS, pointing at the offending field."""
    return [
        Problem(
            f"spec.roles[{index}].members",
            f"role {role.id} asks for {role.members} members; this site allows at most "
            f"{MAX_MEMBERS}: lower spec.roles[{index}].members",
        )
        for index, role in enumerate(cluster.spec.roles)
        if (role.members or 0) > MAX_MEMBERS
    ]


@hookimpl
def kd_pre_create(
    cluster: KubeDirectorCluster, objects: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Label the pod template of each StatefulSet with the cluster's team."""
    for manifest in objects:
        if manifest.get("kind") == "StatefulSet":
            template = manifest.setdefault("spec", {}).setdefault("template", {})
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels[TEAM_LABEL] = _team(cluster)
    return objects


@hookimpl
def kd_configmeta(cluster: KubeDirectorCluster) -> Mapping[str, Any]:
    """Tell every member which team owns its cluster."""
    return {"team": _team(cluster)}
