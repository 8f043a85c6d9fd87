"""Helpers for plugin authors: app-independent pieces most plugins need.

Pure functions of the public models and hook types, re-exported by
:mod:`kubedirector_core`. Nothing here knows an app type: plugins keep their
app's knowledge (daemons, ports, file formats) and share only this.

* Members and resources: :func:`requested_members`, :func:`role_resource`,
  :func:`memory_mib`, :func:`whole_cpus`, :func:`format_mib`,
  :func:`members_of`, :func:`hostname_of`.
* Settings a cluster tunes through annotations ``<prefix><name>``, with the
  app's ``spec.config.configMeta`` as the default: :func:`find_setting`,
  :func:`whole_number_setting`, :class:`SettingError`.
* Decisions: :func:`guest_command`, :func:`replace_after_grace`,
  :func:`scale_to_demand`; reading metrics: :func:`json_body`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

from kubedirector_core.api import ClusterRole, KubeDirectorApp, KubeDirectorCluster, parse_quantity
from kubedirector_core.hooktypes import (
    AutoscaleInput,
    Member,
    MetricsReading,
    NodeDown,
    NodeDownDecision,
    NodeProblem,
)
from kubedirector_core.problems import Problem

MIB = 2**20


# ---------------------------------------------------------------------------
# Members and resources


def requested_members(app: KubeDirectorApp, role: ClusterRole) -> int:
    """How many members the cluster asks for in ``role``: ``members``, else the app's minimum."""
    if role.members is not None:
        return role.members
    app_role = app.role(role.id)
    return app_role.min_members if app_role else 0


def role_resource(role: ClusterRole, name: str, default: int | str = 0) -> float:
    """One member's amount of resource ``name``: its limit, else its request, else ``default``.

    Quantities are parsed as Kubernetes writes them (``"2Gi"`` gives bytes, ``"500m"`` 0.5).
    """
    requests = role.resources.requests or {}
    return float(parse_quantity(role.resources.limits.get(name, requests.get(name, default))))


def memory_mib(role: ClusterRole) -> int:
    """One member's memory in MiB (see :func:`role_resource`), rounded down."""
    return int(role_resource(role, "memory") // MIB)


def whole_cpus(role: ClusterRole) -> int:
    """One member's whole CPUs (see :func:`role_resource`), rounded down, at least 1."""
    return max(1, math.floor(role_resource(role, "cpu", 1)))


def format_mib(mebibytes: int) -> str:
    """A MiB amount as a person writes the quantity: ``"3Gi"``, ``"1536Mi"``."""
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def members_of(members: Iterable[Member], role_ids: Iterable[str]) -> list[Member]:
    """The members whose role is one of ``role_ids``, in the order given."""
    wanted = set(role_ids)
    return [member for member in members if member.role in wanted]


def hostname_of(members: Sequence[Member], role_ids: Iterable[str]) -> str | None:
    """The hostname of the lowest-ordinal member of the first of ``role_ids`` present.

    For hooks given every member of the cluster (``kd_metrics_endpoint``)
    that need one role's member, such as the app's master. None when no
    member of those roles is listed yet.
    """
    for role_id in role_ids:
        found = sorted((m for m in members if m.role == role_id), key=lambda m: m.ordinal)
        if found:
            return found[0].hostname
    return None


def json_body(reading: MetricsReading, what: str, fix: str) -> object:
    """The JSON document in a body the core fetched for ``kd_read_metrics``.

    Raises ValueError saying that ``what`` from the reading's URL is not
    JSON, and ``fix`` (what the user should do), so that the error the core
    reports in the ``Autoscaling`` condition is one a person can act on.
    """
    try:
        return json.loads(reading.body)
    except ValueError as error:
        raise ValueError(f"{what} from {reading.url} is not JSON ({error}): {fix}") from None


# ---------------------------------------------------------------------------
# Settings: cluster annotation, else the app's configMeta, else a default


class SettingError(ValueError):
    """A setting has a value a plugin cannot use; carries the field path it was read from."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def as_problem(self) -> Problem:
        """The error as a validation problem at the setting's field path."""
        return Problem(self.path, self.message)


def find_setting(
    app: KubeDirectorApp, cluster: KubeDirectorCluster | None, prefix: str, name: str
) -> tuple[str, str] | None:
    """Where setting ``name`` is set and its raw text, or None when nowhere.

    The cluster's annotation ``<prefix><name>`` wins over the app's
    ``spec.config.configMeta`` key ``<name>``. The path is the field to name
    in an error (``metadata.annotations.<prefix><name>``).
    """
    annotations = (cluster.metadata.annotations or {}) if cluster else {}
    if prefix + name in annotations:
        return f"metadata.annotations.{prefix}{name}", annotations[prefix + name]
    config_meta = app.spec.config.config_meta or {}
    if name in config_meta:
        return f"spec.config.configMeta.{name}", config_meta[name]
    return None


def whole_number_setting(found: tuple[str, str] | None, name: str, least: int = 1) -> int | None:
    """The whole number a setting found by :func:`find_setting` holds (None when unset).

    Raises :class:`SettingError` naming the field when the text is not a whole
    number of at least ``least``.
    """
    if found is None:
        return None
    path, text = found
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingError(path, f"{name} must be a whole number, not {text!r}") from None
    if value < least:
        raise SettingError(path, f"{name} must be at least {least}, not {value}")
    return value


# ---------------------------------------------------------------------------
# Decisions


def guest_command(path: str, *arguments: str, name: str | None = None) -> tuple[str, ...]:
    """The argv that runs the executable at ``path`` in a member, under its guest root.

    ``path`` is absolute as the container sees it; the command resolves it
    under ``${KD_GUEST_ROOT:-}`` (unset in real containers), so the same
    action works on the test control plane. ``name`` is the process's
    ``$0`` (the file's name by default).
    """
    if not path.startswith("/"):
        raise ValueError(f"guest_command needs an absolute path, not {path!r}")
    script = f'exec "${{KD_GUEST_ROOT:-}}{path}" "$@"'
    return ("sh", "-c", script, name or path.rsplit("/", 1)[-1], *arguments)


def replace_after_grace(event: NodeDown, grace_seconds: float, reason: str) -> NodeDownDecision:
    """Replace the member once its node is gone or has been down ``grace_seconds``; else wait.

    The wait asks again when the grace runs out (at least 1 s later). The
    reason of a replacement gets the node and its problem appended.
    """
    if event.problem is NodeProblem.GONE or event.down_for_seconds >= grace_seconds:
        return NodeDownDecision.replace_member(f"{reason} (node {event.node_name} {event.problem})")
    return NodeDownDecision.wait(
        f"node {event.node_name} of {event.member.name} is {event.problem}; "
        f"replacing it after {grace_seconds:.0f} s",
        max(1.0, grace_seconds - event.down_for_seconds),
    )


def scale_to_demand(
    request: AutoscaleInput, demand: float, per_member: float, *, backlog: bool
) -> int:
    """Members enough for ``demand`` units of work at the target utilization, one step at a time.

    Each member serves ``per_member`` units (cores, containers...). While
    work waits (``backlog``) the role grows by at least one member; without
    a backlog it shrinks by one member per decision at most, so every
    shrink can hand its work over. The answer is clamped to the role's bounds.
    """
    if per_member <= 0:
        raise ValueError(f"role {request.role!r}: per_member must be positive, not {per_member}")
    desired = math.ceil(demand / (per_member * request.target_utilization))
    current = request.current_members
    if backlog:
        desired = max(desired, current + 1)
    elif desired < current:
        desired = current - 1
    return request.clamp(desired)
