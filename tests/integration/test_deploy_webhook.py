"""The admission webhook as deployed: through a Service, self-managed TLS, every replica.

Two operator processes run as deploy/'s service account with only deploy/'s
RBAC and the Deployment's own arguments (``--webhook-listen`` moved to free
ports of this machine, ``--webhook-service kubedirector/kubedirector-webhook``).
The API server calls them through deploy/'s webhook configurations and the
Service ``kubedirector-webhook``: the control plane runs with
``--enable-aggregator-routing=true``, so the API server picks one of the
Service's endpoints (there is no kube-proxy). Here the Service has no
selector; an EndpointSlice points at this machine's non-loopback address (the
API server refuses loopback endpoints), at the port of the replica that does
*not* lead; the leader is then asked directly, over HTTPS. (The API server
keeps its connection to an endpoint open, so which one it reaches is decided
by its first call: the EndpointSlice is set before any.)

That admission works at all shows that the operator made the Secret, patched
the caBundle, and that the API server verified the certificate for
``kubedirector-webhook.kubedirector.svc``.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.runtime.connection import load_configuration
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.webhook import SecretKeeper
from kubedirector_core.runtime.webhooktls import SERVING_VALIDITY, Material, service_names
from kubedirector_core.testing.deploy import (
    DEPLOY,
    OPERATOR_NAMESPACE,
    WEBHOOK_CONFIGURATION,
    deployment_arguments,
    lease_holder,
    operator_account,
    refused_requests,
    remove_webhook_configurations,
)
from kubedirector_core.testing.loopback import free_port
from kubedirector_core.testing.operator import (
    OperatorProcess,
    make_setup_package,
    recorder_app,
    recorder_cluster,
    wait_until,
)

__all__ = ["operator_account"]

pytestmark = pytest.mark.controlplane

SERVICE = "kubedirector-webhook"
SECRET = "kubedirector-webhook-tls"
KINDS = ("validatingwebhookconfiguration", "mutatingwebhookconfiguration")
#: What a replica run with -v logs when the API server calls its validating webhook.
CALL = "POST /validate-cluster"


def host_address() -> str:
    """This machine's first non-loopback IPv4 address (``hostname -I``)."""
    words = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True)
    for word in words.stdout.split():
        if "." in word and not word.startswith("127."):
            return word
    pytest.skip("this machine has no non-loopback IPv4 address for an EndpointSlice")


def endpoint_slice(address: str, port: int) -> dict[str, Any]:
    """The Service's one EndpointSlice: ``address:port``, its port named like the Service's."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{SERVICE}-test",
            "namespace": OPERATOR_NAMESPACE,
            "labels": {
                "kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": "kubedirector-test",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "webhook", "port": port, "protocol": "TCP"}],
    }


def deploy_webhook_objects() -> list[dict[str, Any]]:
    """deploy/webhook.yaml, with the Service's selector removed (its endpoints are ours)."""
    documents = [d for d in yaml.safe_load_all((DEPLOY / "webhook.yaml").read_text()) if d]
    for document in documents:
        if document["kind"] == "Service":
            del document["spec"]["selector"]
    return documents


def kubectl_apply(control_plane: ControlPlane, documents: list[dict[str, Any]]) -> None:
    control_plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-",
        input=yaml.safe_dump_all(documents),
    )  # fmt: skip


@pytest.fixture
def webhook_objects(control_plane: ControlPlane, operator_account: Path) -> Iterator[str]:
    """The host's address; deploy/'s webhook objects and the Secret removed afterwards."""
    address = host_address()
    control_plane.kubectl(
        "delete", "secret", SECRET, "-n", OPERATOR_NAMESPACE, "--ignore-not-found"
    )
    try:
        yield address
    finally:
        # The configurations first: they fail closed and would refuse later tests' clusters.
        remove_webhook_configurations(control_plane)
        control_plane.kubectl(
            "delete", "service", SERVICE, "-n", OPERATOR_NAMESPACE, "--ignore-not-found"
        )
        control_plane.kubectl(
            "delete", "endpointslice", f"{SERVICE}-test", "-n", OPERATOR_NAMESPACE,
            "--ignore-not-found",
        )  # fmt: skip
        control_plane.kubectl(
            "delete", "secret", SECRET, "-n", OPERATOR_NAMESPACE, "--ignore-not-found"
        )


def replica(kubeconfig: Path, name: str, port: int, log: Path) -> OperatorProcess:
    """One replica as the Deployment runs it, its webhook on ``0.0.0.0:port``, logging requests."""
    arguments = [
        f"--webhook-listen=0.0.0.0:{port}" if arg.startswith("--webhook-listen") else arg
        for arg in deployment_arguments()
    ] + ["-v"]
    assert f"--webhook-service={OPERATOR_NAMESPACE}/{SERVICE}" in arguments
    assert "--leader-elect" in arguments
    return OperatorProcess(
        kubeconfig,
        [],
        log,
        extra_args=arguments,
        env={"POD_NAME": name, "POD_NAMESPACE": OPERATOR_NAMESPACE},
    )


def dry_run_create(control_plane: ControlPlane, namespace: str, document: dict[str, Any]) -> str:
    """Create ``document`` server-side without storing it; kubectl's stderr ("" if accepted)."""
    result = control_plane.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(document), check=False,
    )  # fmt: skip
    return "" if result.returncode == 0 else result.stderr


def review_of(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    """An AdmissionReview v1 request to create ``document`` in ``namespace``."""
    body = {**document, "metadata": {**document["metadata"], "namespace": namespace}}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "test", "operation": "CREATE", "namespace": namespace, "object": body},
    }


def post_review(address: str, port: int, ca: bytes, review: dict[str, Any]) -> Any:
    """POST ``review`` to /validate-cluster over HTTPS, verifying the Service's DNS name."""
    context = ssl.create_default_context(cadata=ca.decode())
    body = json.dumps(review).encode()
    with (
        socket.create_connection((address, port), timeout=60) as raw,
        context.wrap_socket(raw, server_hostname=f"{SERVICE}.{OPERATOR_NAMESPACE}.svc") as tls,
    ):
        tls.sendall(
            b"POST /validate-cluster HTTP/1.1\r\nHost: webhook\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(payload)["response"]


def get_json(control_plane: ControlPlane, *args: str) -> Any:
    return json.loads(control_plane.kubectl("get", *args, "-o", "json").stdout)


def test_every_replica_serves_admission_through_the_service_with_self_managed_tls(
    control_plane: ControlPlane,
    operator_account: Path,
    webhook_objects: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    address = webhook_objects
    control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(recorder_app(make_setup_package(tmp_path / "setup.tgz"))),
    )  # fmt: skip
    # The app exists before the webhooks do (creating it is admitted by them too).
    kubectl_apply(control_plane, deploy_webhook_objects())
    good = recorder_cluster(1)
    bad = copy.deepcopy(good)
    bad["spec"]["roles"][0]["id"] = "no-such-role"

    ports = {"replica-a": free_port("0.0.0.0"), "replica-b": free_port("0.0.0.0")}
    replicas = {
        name: replica(operator_account, name, port, tmp_path / f"{name}.log")
        for name, port in ports.items()
    }
    for process in replicas.values():
        process.start()  # at once: they race to create the Secret
    try:
        # One replica created the Secret (the other lost the race or found it) and
        # both configurations carry its CA bundle.
        def bundle_published() -> bool:
            found = control_plane.kubectl(
                "get", "secret", SECRET, "-n", OPERATOR_NAMESPACE, "-o", "json", check=False
            )
            if found.returncode != 0:
                return False
            bundle = json.loads(found.stdout)["data"]["bundle.crt"]
            return all(
                w.get("clientConfig", {}).get("caBundle") == bundle
                for kind in KINDS
                for w in get_json(control_plane, kind, WEBHOOK_CONFIGURATION)["webhooks"]
            )

        wait_until("the CA bundle in both webhook configurations", bundle_published, timeout=120)
        secret = get_json(
            control_plane, "secret", SECRET, "-n", OPERATOR_NAMESPACE, "--show-managed-fields"
        )
        writers = {entry["manager"] for entry in secret["metadata"]["managedFields"]}
        assert writers == {"kubedirector"}, f"the Secret was written by {writers}"
        bundle = base64.b64decode(secret["data"]["bundle.crt"])

        # The Service's one endpoint is the replica that does not lead. (The API server
        # keeps its connection to an endpoint open, so the first call decides.)
        leader = str(
            wait_until("a replica leading", lambda: lease_holder(control_plane), timeout=120)
        )
        standby = next(name for name in replicas if name != leader)
        kubectl_apply(control_plane, [endpoint_slice(address, ports[standby])])

        # Through the Service: a cluster naming a role its app lacks is refused with
        # the webhook's message; the good one passes.
        def refused() -> str:
            for process in replicas.values():
                assert process.running, process.log()[-3000:]
            message = dry_run_create(control_plane, namespace, bad)
            return message if "denied the request" in message else ""

        message = str(wait_until("the webhook refusing a bad cluster", refused, timeout=120))
        assert 'admission webhook "validate-cluster.kubedirector.hpe.com" denied' in message
        assert "'no-such-role' is not a role of app" in message
        assert dry_run_create(control_plane, namespace, good) == ""
        # The standby answered (its log, with -v, shows the API server's calls) and is
        # still the standby; the leader was not called.
        assert CALL in replicas[standby].log()
        assert CALL not in replicas[leader].log()
        assert lease_holder(control_plane) == leader

        # The leader serves the same certificate for the Service's name: an
        # AdmissionReview sent to its port directly is answered the same way.
        response = post_review(address, ports[leader], bundle, review_of(bad, namespace))
        assert response["allowed"] is False
        assert "'no-such-role' is not a role of app" in response["status"]["message"]
    finally:
        for process in replicas.values():
            process.stop()
        for name, process in replicas.items():
            sys.stderr.write(f"----- {name} log -----\n{process.log()[-10000:]}")
    for process in replicas.values():
        assert refused_requests(process.log()) == []


def test_replicas_racing_for_the_secret_agree_on_one_certificate_and_renewals_stick(
    control_plane: ControlPlane, operator_account: Path
) -> None:
    control_plane.kubectl(
        "delete", "secret", SECRET, "-n", OPERATOR_NAMESPACE, "--ignore-not-found"
    )
    names = service_names(OPERATOR_NAMESPACE, SERVICE)
    later = datetime.now(UTC) + SERVING_VALIDITY * 3 / 4

    clients: list[client.ApiClient] = []

    def keeper(clock: Callable[[], datetime] | None = None) -> SecretKeeper:
        # As the operator's account: get/create/update are all its Role allows here.
        clients.append(client.ApiClient(load_configuration(operator_account, None)))
        api = KubeApi(clients[-1])
        if clock is None:
            return SecretKeeper(api, OPERATOR_NAMESPACE, SECRET, names)
        return SecretKeeper(api, OPERATOR_NAMESPACE, SECRET, names, clock=clock)

    keepers = [keeper(), keeper()]
    start = threading.Barrier(len(keepers))

    def race(index: int) -> Material:
        start.wait()
        return keepers[index].sync()

    try:
        with ThreadPoolExecutor(len(keepers)) as pool:
            first, second = pool.map(race, range(len(keepers)))
        assert first == second, "both replicas serve the one certificate that was created"
        stored = Material.from_data(
            get_json(control_plane, "secret", SECRET, "-n", OPERATOR_NAMESPACE)["data"]
        )
        assert stored == first

        # A replica whose clock says the certificate is due renews it, with the same CA;
        # a replica reading afterwards takes the renewed one and does not write it back.
        renewed = keeper(lambda: later).sync()
        assert renewed.ca == first.ca
        assert renewed.serving != first.serving
        assert keepers[0].sync() == renewed
    finally:
        for api_client in clients:
            api_client.close()  # type: ignore[no-untyped-call]
        control_plane.kubectl(
            "delete", "secret", SECRET, "-n", OPERATOR_NAMESPACE, "--ignore-not-found"
        )
