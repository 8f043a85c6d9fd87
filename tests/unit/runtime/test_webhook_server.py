"""The admission server: AdmissionReview answers, and HTTPS with a certificate swapped live.

Real parts throughout: the handlers of ``admission.handlers`` with facts held
in memory, and a real TLS server on loopback checked by a real TLS client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.cli import main
from kubedirector_core.runtime import admission
from kubedirector_core.runtime.webhookserver import AdmissionServer, json_patch, review, ssl_context
from kubedirector_core.runtime.webhooktls import Material, rotate
from kubedirector_core.testing.operator import recorder_app, recorder_cluster
from kubedirector_core.validation import StorageFacts

HOSTS = ["localhost"]

#: The recorder app of the test kit (its setup package URL is never fetched here).
APP = recorder_app("file:///nonexistent/setup.tgz")


class Facts:
    """The one app ``team/recorder``, one default StorageClass."""

    async def find_app(
        self, namespace: str, name: str, app_catalog: str | None
    ) -> admission.FoundApp | None:
        if (namespace, name) == ("team", "recorder"):
            return admission.FoundApp(KubeDirectorApp.from_wire(APP), "local")
        return None

    async def storage(self) -> StorageFacts:
        return StorageFacts(classes=frozenset({"standard"}), default_class="standard")

    async def clusters_using_app(self, namespace: str, name: str) -> list[str]:
        return []

    async def defaults(self) -> admission.ClusterDefaults:
        return admission.ClusterDefaults()


def admission_review(document: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    document = {**document, "metadata": {**document["metadata"], "namespace": "team"}}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u-1", "operation": operation, "object": document},
    }


def answer(path: str, document: dict[str, Any]) -> dict[str, Any]:
    handlers = admission.handlers(Facts())
    result: dict[str, Any] = asyncio.run(review(handlers, path, admission_review(document)))
    return result["response"]


def test_a_cluster_with_an_unknown_role_is_denied_with_the_reason() -> None:
    cluster = recorder_cluster(1)
    cluster["spec"]["roles"][0]["id"] = "no-such-role"
    response = answer("/validate-cluster", cluster)
    assert response["uid"] == "u-1"
    assert response["allowed"] is False
    assert response["status"]["code"] == 422
    assert "'no-such-role' is not a role of app" in response["status"]["message"]


def test_a_good_cluster_is_allowed_and_defaulted_with_a_json_patch() -> None:
    assert answer("/validate-cluster", recorder_cluster(1))["allowed"] is True
    response = answer("/default-cluster?timeout=10s", recorder_cluster(1))
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    operations = json.loads(base64.b64decode(response["patch"]))
    assert {"op": "add", "path": "/spec/serviceType", "value": "NodePort"} in operations


def test_an_unknown_path_is_denied_naming_it() -> None:
    response = answer("/validate-nothing", recorder_cluster(1))
    assert response["allowed"] is False
    assert response["status"] == {
        "code": 404,
        "message": "no admission handler at /validate-nothing",
    }


def _material() -> Material:
    material, _ = rotate(None, HOSTS, datetime.now(UTC))
    return material


@pytest.fixture
def server() -> Iterator[tuple[AdmissionServer, Material]]:
    material = _material()
    running = AdmissionServer(
        ("127.0.0.1", 0),
        admission.handlers(Facts()),
        ssl_context(material.serving.cert, material.serving.key),
    )
    running.start()
    try:
        yield running, material
    finally:
        running.stop()


def post(port: int, ca: bytes, path: str, body: bytes) -> tuple[int, bytes, bytes]:
    """POST over HTTPS trusting only ``ca`` (hostname checked); status, body, peer cert (DER)."""
    context = ssl.create_default_context(cadata=ca.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        tls.sendall(head.encode() + body)
        peer = tls.getpeercert(binary_form=True)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    status_line, _, rest = b"".join(chunks).partition(b"\r\n")
    _headers, _, payload = rest.partition(b"\r\n\r\n")
    assert peer is not None
    return int(status_line.split()[1]), payload, peer


def test_the_server_answers_over_https_and_serves_a_renewed_certificate_without_restart(
    server: tuple[AdmissionServer, Material],
) -> None:
    running, material = server
    cluster = recorder_cluster(1)
    cluster["spec"]["roles"][0]["id"] = "no-such-role"
    body = json.dumps(admission_review(cluster)).encode()
    status, payload, first = post(running.port, material.bundle, "/validate-cluster", body)
    assert status == 200
    assert json.loads(payload)["response"]["allowed"] is False

    renewed = _material()
    running.reload(ssl_context(renewed.serving.cert, renewed.serving.key))
    status, payload, second = post(running.port, renewed.bundle, "/validate-cluster", body)
    assert status == 200
    assert second != first, "new connections get the new certificate"
    with pytest.raises(ssl.SSLCertVerificationError):
        post(running.port, material.bundle, "/validate-cluster", body)


def test_a_body_that_is_no_admission_review_gets_400(
    server: tuple[AdmissionServer, Material],
) -> None:
    running, material = server
    status, payload, _ = post(running.port, material.bundle, "/validate-cluster", b"{}")
    assert status == 400
    assert b"not an AdmissionReview" in payload


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--webhook-listen", ":9443"], "--webhook-service is missing"),
        (["--webhook-service", "kd/hook"], "--webhook-listen is missing"),
        (
            ["--webhook-listen", "9443", "--webhook-service", "kd/hook"],
            "--webhook-listen: '9443' is not an address to listen on",
        ),
        (
            ["--webhook-listen", ":9443", "--webhook-service", "hook"],
            "'hook' is not NAMESPACE/NAME of a Service",
        ),
        (
            ["--webhook-port", "9443", "--webhook-service", "kd/hook"],
            "--webhook-port (URL mode) cannot be combined",
        ),
        (["--webhook-port", "9443"], "--webhook-port needs --webhook-cert"),
    ],
)
def test_webhook_flags_are_checked_naming_the_flag(args: list[str], complaint: str) -> None:
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 2, result.output
    assert complaint in " ".join(result.output.split())


def test_a_merge_patch_becomes_json_patch_operations_the_api_server_accepts() -> None:
    body = {"spec": {"app": "x", "roles": [], "old": 1, "a/b": {"k": 1}}, "metadata": {}}
    merge = {"spec": {"serviceType": "NodePort", "app": "x", "old": None, "a/b": {"k": 2}}}

    operations = json_patch(body, merge)

    assert operations == [
        {"op": "add", "path": "/spec/serviceType", "value": "NodePort"},
        {"op": "remove", "path": "/spec/old"},
        {"op": "replace", "path": "/spec/a~1b/k", "value": 2},
    ]
    assert json_patch(body, {"spec": {"gone": None}}) == []
