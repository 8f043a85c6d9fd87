"""``kubedirector status CLUSTER [-n NS]``: a cluster's members and its last decisions.

Prints the cluster's state and conditions, one line per member (role, node
id, pod, the Kubernetes node its pod is bound to, member state), the
node-down records (``status.nodeDown``: what was detected, what was decided,
by which plugin and why, and how far it got) and each autoscaled role's last
decision (``status.autoscale``). ``--output json`` prints the same as one
object. The formatting is :func:`describe`, a pure function of the cluster
and a pod -> node map, so it can be tested without a server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kubedirector_core.api import GROUP, VERSION

#: The label that ties a pod to its KubeDirectorCluster.
CLUSTER_LABEL = "kubedirector.hpe.com/kdcluster"


def summary(cluster: dict[str, Any], nodes: dict[str, str | None]) -> dict[str, Any]:
    """The status of ``cluster`` as plain data; ``nodes`` maps pod name -> node name."""
    status = cluster.get("status") or {}
    members = [
        {
            "role": role.get("id"),
            "nodeID": member.get("nodeID"),
            "pod": member.get("pod"),
            "node": nodes.get(str(member.get("pod"))),
            "state": member.get("state"),
        }
        for role in status.get("roles") or []
        for member in role.get("members") or []
    ]
    return {
        "name": (cluster.get("metadata") or {}).get("name"),
        "namespace": (cluster.get("metadata") or {}).get("namespace"),
        "app": (cluster.get("spec") or {}).get("app"),
        "state": status.get("state"),
        "conditions": {
            c.get("type"): c.get("status") for c in status.get("conditions") or [] if c.get("type")
        },
        "members": members,
        "nodeDown": list(status.get("nodeDown") or []),
        "autoscale": [
            {"role": r.get("role"), "desiredMembers": r.get("desiredMembers"), **_last(r)}
            for r in status.get("autoscale") or []
        ],
    }


def _last(record: dict[str, Any]) -> dict[str, Any]:
    decision = record.get("lastDecision")
    return {"lastDecision": decision} if isinstance(decision, dict) else {}


def _metrics(metrics: object) -> str:
    """``name=value, ...`` of a decision's metrics, or ``no metrics``."""
    if not isinstance(metrics, dict) or not metrics:
        return "no metrics"
    return ", ".join(f"{name}={value:g}" for name, value in sorted(metrics.items()))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def describe(cluster: dict[str, Any], nodes: dict[str, str | None]) -> str:
    """The status of ``cluster`` as text for people; ``nodes`` maps pod name -> node name."""
    data = summary(cluster, nodes)
    conditions = ", ".join(f"{k}={v}" for k, v in data["conditions"].items()) or "none"
    lines = [
        f"cluster {data['name']} (app {data['app']}) in {data['namespace']}: "
        f"state {data['state'] or 'unknown'}; conditions: {conditions}",
        "",
    ]
    if data["members"]:
        rows = [["ROLE", "NODEID", "POD", "NODE", "STATE"]]
        for m in data["members"]:
            rows.append(
                [
                    str(m["role"]),
                    str(m["nodeID"] if m["nodeID"] is not None else "-"),
                    str(m["pod"]),
                    str(m["node"] or "-"),
                    str(m["state"] or "-"),
                ]
            )
        lines += _table(rows)
    else:
        lines.append("no members")
    lines += ["", "node-down decisions:"]
    for r in data["nodeDown"] or []:
        times = ", ".join(
            f"{label} {r[key]}"
            for label, key in (
                ("detected", "detectedAt"),
                ("decided", "decidedAt"),
                ("recovered", "recoveredAt"),
            )
            if r.get(key)
        )
        lines.append(
            f"  member {r.get('member')} (role {r.get('role')}) on node {r.get('node')}: "
            f"{r.get('problem')}; {r.get('decision', 'undecided')}"
            + (" (forced)" if r.get("force") else "")
            + f" by {r.get('plugin', '-')} ({r.get('reason', '')}); phase {r.get('phase', '-')}; "
            + times
        )
        if r.get("waitingFor"):
            lines.append(f"    waiting for: {r['waitingFor']}")
    if not data["nodeDown"]:
        lines.append("  none")
    lines += ["", "autoscale decisions:"]
    for r in data["autoscale"]:
        d = r.get("lastDecision") or {}
        lines.append(
            f"  role {r['role']}: desired {r['desiredMembers']}"
            + (
                f"; last at {d.get('at')}: {d.get('currentMembers')} -> "
                f"{d.get('desiredMembers')}"
                + (f" by {d['plugin']}" if d.get("plugin") else "")
                + f" ({d.get('reason', '')}); metrics: {_metrics(d.get('metrics'))}"
                if d
                else ""
            )
        )
    if not data["autoscale"]:
        lines.append("  none")
    return "\n".join(lines)


def fetch(
    name: str, namespace: str, kubeconfig: Path | None, context: str | None
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Read the cluster and the node of each of its pods from the API server."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kubedirector_core.runtime.connection import load_configuration

    configuration = load_configuration(kubeconfig, context)
    with client.ApiClient(configuration) as api:
        try:
            cluster = client.CustomObjectsApi(api).get_namespaced_custom_object(
                GROUP, VERSION, namespace, "kubedirectorclusters", name
            )
        except ApiException as error:
            if error.status == 404:
                raise click.ClickException(
                    f"no KubeDirectorCluster {name!r} in namespace {namespace!r}"
                ) from error
            raise click.ClickException(f"reading cluster {name}: {error.reason}") from error
        pods = client.CoreV1Api(api).list_namespaced_pod(
            namespace, label_selector=f"{CLUSTER_LABEL}={name}"
        )
    nodes: dict[str, str | None] = {
        str(pod.metadata.name): pod.spec.node_name
        for pod in pods.items
        if pod.metadata is not None and pod.spec is not None
    }
    assert isinstance(cluster, dict)
    return cluster, nodes


@click.command()
@click.argument("cluster")
@click.option("--namespace", "-n", default="default", show_default=True)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Kubeconfig to use (default: $KUBECONFIG, in-cluster credentials, ~/.kube/config).",
)
@click.option("--context", default=None, help="Kubeconfig context (default: the current one).")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
def status(
    cluster: str, namespace: str, kubeconfig: Path | None, context: str | None, output: str
) -> None:
    """Show CLUSTER's members with their nodes and states, and its last decisions."""
    found, nodes = fetch(cluster, namespace, kubeconfig, context)
    if output == "json":
        click.echo(json.dumps(summary(found, nodes), indent=2, sort_keys=True))
    else:
        click.echo(describe(found, nodes))
