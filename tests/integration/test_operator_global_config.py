"""KubeDirectorConfig kd-global-config, honoured by the operator and its webhooks.

The operator runs with the test's namespace as its system namespace, so the
config lives (and dies) with the test. The webhooks are served as in
test_api_webhook.py: the API server calls them on loopback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.devcluster.processes import free_port
from kubedirector_core.runtime.admission import webhook_configurations
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    get_cluster,
    grant_operator,
    make_setup_package,
    members,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane

DOMAIN = "svc.kd.example"


def global_config(service_labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorConfig",
        "metadata": {"name": "kd-global-config"},
        "spec": {
            "defaultServiceType": "ClusterIP",
            "podLabels": {"example.com/team": "data"},
            "podAnnotations": {"example.com/audit": "on"},
            "serviceLabels": service_labels,
            # KubeDirector's own spelling, with the leading dot.
            "clusterSvcDomainBase": f".{DOMAIN}",
        },
    }


@pytest.fixture
def configured_operator(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[OperatorProcess]:
    """The operator (webhooks served) whose system namespace is the test's namespace."""
    pair = control_plane.serving_certificate("kubedirector-webhook")
    process = OperatorProcess(
        grant_operator(control_plane),
        [namespace],
        tmp_path / "operator.log",
        extra_args=[
            "--system-namespace",
            namespace,
            "--webhook-port",
            str(free_port()),
            "--webhook-cert",
            str(pair.cert),
            "--webhook-key",
            str(pair.key),
            "--webhook-ca",
            str(control_plane.ca_certificate),
        ],
    )
    process.start()
    try:
        yield process
    finally:
        control_plane.kubectl(
            "delete", "kubedirectorclusters", "--all", "-n", namespace, "--timeout=60s", check=False
        )
        process.stop()
        for configuration in webhook_configurations({"url": "https://unused"}):
            kind = configuration["kind"].lower()
            name = configuration["metadata"]["name"]
            control_plane.kubectl("delete", kind, name, "--ignore-not-found", check=False)
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(f"\n----- operator log ({process.log_path}) -----\n")
            sys.stderr.write(process.log()[-20000:])


def _dry_run(plane: ControlPlane, namespace: str, document: dict[str, Any]) -> dict[str, Any]:
    """The cluster as the API server would store it (webhooks run), or {} if refused."""
    result = plane.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-o",
        "json",
        "-f",
        "-",
        input=yaml.safe_dump(document),
        check=False,
    )
    if result.returncode:
        return {}
    stored: dict[str, Any] = json.loads(result.stdout)
    return stored


def _items(plane: ControlPlane, namespace: str, kind: str) -> list[dict[str, Any]]:
    found = plane.kubectl(
        "get", kind, "-n", namespace, "-l", "kubedirector.hpe.com/kdcluster=rec", "-o", "json"
    )
    items: list[dict[str, Any]] = json.loads(found.stdout)["items"]
    return items


def _member_services(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    services = _items(plane, namespace, "services")
    return [s for s in services if s["spec"].get("clusterIP") != "None"]


def test_the_operator_and_webhooks_honour_kd_global_config(
    control_plane: ControlPlane,
    namespace: str,
    configured_operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, global_config({"example.com/exposed": "yes"}))
    cluster = recorder_cluster(2)
    assert "serviceType" not in cluster["spec"]

    # Once the webhooks are registered and the config is read, new clusters get its default.
    def defaulted() -> bool:
        assert configured_operator.running, configured_operator.log()[-3000:]
        return (
            _dry_run(control_plane, namespace, cluster).get("spec", {}).get("serviceType")
            == "ClusterIP"
        )

    wait_until("the mutating webhook applying defaultServiceType", defaulted, timeout=120)
    apply(control_plane, namespace, cluster)
    stored = get_cluster(control_plane, namespace, "rec")
    assert stored["spec"]["serviceType"] == "ClusterIP"

    ready = wait_ready(control_plane, namespace)
    pods = sorted(m["pod"] for m in members(ready))
    assert len(pods) == 2

    services = _member_services(control_plane, namespace)
    assert sorted(s["metadata"]["name"] for s in services) == pods
    for service in services:
        assert service["spec"]["type"] == "ClusterIP"
        assert service["metadata"]["labels"]["example.com/exposed"] == "yes"

    live_pods = _items(control_plane, namespace, "pods")
    assert sorted(p["metadata"]["name"] for p in live_pods) == pods
    for pod in live_pods:
        assert pod["metadata"]["labels"]["example.com/team"] == "data"
        assert pod["metadata"]["annotations"]["example.com/audit"] == "on"

    headless = ready["status"]["clusterService"]
    domain = f"{headless}.{namespace}.{DOMAIN}"
    for pod in pods:
        configmeta = json.loads(
            (control_plane.pod_dir(namespace, pod) / "etc/guestconfig/configmeta.json").read_text()
        )
        assert configmeta["node"]["fqdn"] == f"{pod}.{domain}"
        assert configmeta["node"]["domain"] == domain
        assert configmeta["nodegroups"]["1"]["roles"]["worker"]["fqdns"] == [
            f"{member}.{domain}" for member in pods
        ]

    # A config change reaches the Services at once and leaves the members' pods alone.
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in live_pods}
    [statefulset] = _items(control_plane, namespace, "statefulsets")
    apply(control_plane, namespace, global_config({"example.com/exposed": "changed"}))

    def relabelled() -> bool:
        found = _member_services(control_plane, namespace)
        return bool(found) and all(
            s["metadata"]["labels"].get("example.com/exposed") == "changed" for s in found
        )

    wait_until("the member Services taking the new serviceLabels", relabelled, timeout=120)
    [after] = _items(control_plane, namespace, "statefulsets")
    assert after["metadata"]["generation"] == statefulset["metadata"]["generation"]
    assert after["spec"]["template"] == statefulset["spec"]["template"]
    now = _items(control_plane, namespace, "pods")
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in now} == uids
    assert "Traceback" not in configured_operator.log()
