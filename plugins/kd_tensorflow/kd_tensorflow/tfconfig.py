"""TF_CONFIG: the training cluster each TensorFlow task must be told about.

``TF_CONFIG`` is the JSON TensorFlow's cluster resolvers read::

    {"cluster": {"chief": ["host:2222"], "worker": ["host:2222", ...], "ps": [...]},
     "task": {"type": "worker", "index": 1}}

Task types are the app's role ids ``chief``, ``worker``, ``ps`` and
``evaluator``; a task's index is its member's ordinal in the role. As in
TensorFlow (and Kubeflow's TFJob), the evaluator is not part of the cluster
spec: it only reads checkpoints, and it gets a TF_CONFIG with its own task.

The cluster spec lists the members the cluster's spec asks for, not only those
running, so that every member is told the same, final membership.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass
from typing import Any

from kubedirector_core import KubeDirectorApp, KubeDirectorCluster, Member, MemberFile

#: Task types, in the order TensorFlow lists them.
TASK_TYPES = ("chief", "worker", "ps", "evaluator")
#: Task types that are part of the training cluster spec.
CLUSTER_TASK_TYPES = ("chief", "worker", "ps")
#: The port of a task when the app names none (TensorFlow's and TFJob's usual one).
DEFAULT_PORT = 2222
#: The id of the app service whose endpoint port the tasks listen on.
PORT_SERVICE = "grpc"

GUEST_DIR = "/etc/guestconfig/tensorflow"
TF_CONFIG_PATH = f"{GUEST_DIR}/tf_config.json"
#: A shell file to source: exports TF_CONFIG and KD_TF_MEMBERSHIP.
TF_CONFIG_ENV_PATH = f"{GUEST_DIR}/tf_config.sh"
RESTART_SCRIPT_PATH = f"{GUEST_DIR}/restart-task"

#: Asks the member's TensorFlow task to restart with the current TF_CONFIG.
#: Idempotent: it records the membership it restarts for, then signals the
#: task whose pid the app's launcher wrote, if any. Paths resolve under the
#: guest root (KD_GUEST_ROOT), unset in real containers.
RESTART_SCRIPT = """\
#!/bin/sh
# Written by kd-tensorflow: restart this member's TensorFlow task for membership $1.
set -eu
state="${KD_GUEST_ROOT:-}/var/run/kd-tensorflow"
mkdir -p "$state"
printf '%s\\n' "$1" > "$state/restart-requested"
if [ -s "$state/task.pid" ]; then
    kill -TERM "$(cat "$state/task.pid")" 2>/dev/null || true
fi
"""


@dataclass(frozen=True)
class Task:
    """One TensorFlow task: a member of a task-type role."""

    type: str
    index: int
    member: str
    address: str


def is_training_app(app: KubeDirectorApp) -> bool:
    """True for apps with a chief or worker role (not, say, a lone notebook)."""
    return any(role_id in {"chief", "worker"} for role_id in app.role_ids)


def task_port(app: KubeDirectorApp, role_id: str) -> int:
    """The port the role's tasks listen on: its ``grpc`` service's, else 2222."""
    for role_services in app.spec.config.role_services:
        if role_services.role_id != role_id or PORT_SERVICE not in role_services.service_ids:
            continue
        for service in app.spec.services or []:
            if service.id == PORT_SERVICE and service.endpoint is not None:
                return service.endpoint.port
    return DEFAULT_PORT


def _domain(cluster: KubeDirectorCluster, hint: Member | None) -> str | None:
    """The DNS suffix after a member's name, as the core names members."""
    if hint is not None and hint.hostname.startswith(f"{hint.name}."):
        return hint.hostname[len(hint.name) + 1 :]
    status = cluster.status
    if status is not None and status.cluster_service and cluster.metadata.namespace:
        return f"{status.cluster_service}.{cluster.metadata.namespace}.svc.cluster.local"
    return None


def _name_base(cluster: KubeDirectorCluster, role_id: str, hint: Member | None) -> str:
    """What a role's member names start with, before ``-<ordinal>``."""
    suffix = f"-{hint.ordinal}" if hint is not None else ""
    if hint is not None and hint.role == role_id and hint.name.endswith(suffix):
        return hint.name[: -len(suffix)]
    for role_status in (cluster.status.roles or []) if cluster.status else []:
        if role_status.id == role_id and role_status.stateful_set:
            return role_status.stateful_set
    return f"{cluster.name}-{role_id}"


def role_members(app: KubeDirectorApp, cluster: KubeDirectorCluster, role_id: str) -> int:
    """How many members the cluster asks for in a role (the app's minimum when unsaid)."""
    role = cluster.role(role_id)
    if role is None:
        return 0
    if role.members is not None:
        return role.members
    app_role = app.role(role_id)
    return app_role.min_members if app_role is not None else 0


def training_tasks(
    app: KubeDirectorApp, cluster: KubeDirectorCluster, hint: Member | None = None
) -> list[Task]:
    """Every task the cluster asks for, by type then index.

    ``hint`` is a member whose name and hostname show how the core names
    members; without it the cluster's status is used.
    """
    domain = _domain(cluster, hint)
    tasks = []
    for task_type in TASK_TYPES:
        if task_type not in app.role_ids:
            continue
        base = _name_base(cluster, task_type, hint)
        port = task_port(app, task_type)
        for index in range(role_members(app, cluster, task_type)):
            name = f"{base}-{index}"
            host = f"{name}.{domain}" if domain else name
            tasks.append(Task(task_type, index, name, f"{host}:{port}"))
    return tasks


def cluster_spec(tasks: list[Task]) -> dict[str, list[str]]:
    """The ``cluster`` part of TF_CONFIG: addresses by task type, evaluator left out."""
    spec: dict[str, list[str]] = {}
    for task in tasks:
        if task.type in CLUSTER_TASK_TYPES:
            spec.setdefault(task.type, []).append(task.address)
    return spec


def membership_digest(spec: dict[str, list[str]]) -> str:
    """A short digest of the cluster spec: changes exactly when membership does."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def tf_config(spec: dict[str, list[str]], task: Task) -> dict[str, Any]:
    """The TF_CONFIG of one task."""
    return {"cluster": spec, "task": {"type": task.type, "index": task.index}}


def task_of(tasks: list[Task], member: Member) -> Task | None:
    """The task a member runs, or None for members of other roles."""
    for task in tasks:
        if task.type == member.role and task.index == member.ordinal:
            return task
    return None


def member_files(spec: dict[str, list[str]], task: Task) -> list[MemberFile]:
    """The TF_CONFIG file, a shell file exporting it, and the restart script."""
    config = json.dumps(tf_config(spec, task), sort_keys=True)
    digest = membership_digest(spec)
    env = (
        "# Written by kd-tensorflow; source it before starting the task.\n"
        f"export TF_CONFIG={shlex.quote(config)}\n"
        f"export KD_TF_MEMBERSHIP={digest}\n"
    )
    return [
        MemberFile(path=TF_CONFIG_PATH, content=config + "\n"),
        MemberFile(path=TF_CONFIG_ENV_PATH, content=env),
        MemberFile(path=RESTART_SCRIPT_PATH, content=RESTART_SCRIPT, mode=0o755),
    ]


def restart_command(digest: str) -> tuple[str, ...]:
    """The command that runs the restart script for a membership, under the guest root."""
    script = f'exec sh "${{KD_GUEST_ROOT:-}}{RESTART_SCRIPT_PATH}" "$0"'
    return ("sh", "-c", script, digest)
