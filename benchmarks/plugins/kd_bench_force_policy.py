"""A node-down policy for the benchmark app: after the grace, replace the member forcibly.

Loaded by the scenario-6 operator through ``KD_EXTRA_PLUGINS`` (with this folder
on ``PYTHONPATH``). The benchmark's members hold no data, so a second copy on a
cut-off node is harmless; without ``force`` a pod on a node that stopped its
heartbeat could not be deleted until the Node is.
"""

from __future__ import annotations

from kubedirector_core import NodeDown, NodeDownDecision, hookimpl

KD_PLUGIN_NAME = "kdbenchforce"
#: The benchmark apps (see benchmarks.harness).
APPS = ["benchapp", "benchapp-setup"]


@hookimpl
def kd_claims() -> list[str]:
    """The benchmark's apps."""
    return APPS


@hookimpl
def kd_on_node_down(event: NodeDown) -> NodeDownDecision | None:
    """Abstain (the core waits) within the grace; replace forcibly after it."""
    if event.down_for_seconds < event.grace_seconds:
        return None
    return NodeDownDecision.replace_member(
        f"{KD_PLUGIN_NAME}: {event.member.name} holds no data; replaced forcibly", force=True
    )
