"""Observability of a running operator: the metrics endpoint, JSON logs and the probes.

The operator runs with ``--metrics-bind-address``, ``--health-probe-bind-address``,
``--log-format json`` and ``--leader-elect``; a cluster is created and
resized, and the scraped series (parsed by prometheus-client's own parser)
and the log lines must follow. The last test puts a TLS-terminating proxy
between the operator and the API server that silences the StatefulSet watch
streams (as a stalled stream would be) while every other request passes, and
checks that ``/healthz`` fails naming that stream, then recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import threading
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.loopback import free_port, http_get
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    grant_operator,
    make_setup_package,
    members,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane


METRICS, PROBES = free_port(), free_port()
CONTROLLER = {"controller": "kubedirectorcluster"}
QUEUE = {"name": "kubedirectorcluster"}
LISTED = (
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds_bucket",
    "controller_runtime_active_workers",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_queue_duration_seconds_bucket",
    "workqueue_work_duration_seconds_bucket",
    "leader_election_master_status",
    "kubedirector_clusters",
    "kubedirector_members",
    "kubedirector_hook_call_duration_seconds_count",
    "kubedirector_actions_total",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape() -> Samples:
    status, text = http_get(METRICS, "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, series: str, **labels: str) -> float:
    return samples.get((series, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, series: str, **labels: str) -> float:
    """The sum over every sample of ``series`` whose labels include ``labels``."""
    return sum(
        v
        for (name, found), v in samples.items()
        if name == series and set(labels.items()) <= set(found)
    )


def converged(samples: Samples) -> bool:
    return value(samples, "workqueue_depth", **QUEUE) == 0


#: A plugin claiming the recorder app, so that its hook calls show in the metrics and logs.
PLUGIN_MODULE = "kd_throwaway_observed_plugin"
PLUGIN_SOURCE = """
import logging

from kubedirector_core import hookimpl

KD_PLUGIN_NAME = "observed"


@hookimpl
def kd_claims():
    return ["test/recorder"]


@hookimpl
def kd_configmeta(cluster):
    logging.getLogger("observed").info("adding configmeta for %s", cluster.metadata.name)
    return {"observed": "yes"}
"""


@pytest.fixture
def operator_env(namespace: str, tmp_path: Path) -> dict[str, str]:
    """The Lease goes into the test's namespace (as into the pod's own); a plugin is loaded."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
    return {
        "POD_NAMESPACE": namespace,
        "KD_EXTRA_PLUGINS": PLUGIN_MODULE,
        "PYTHONPATH": str(folder),
    }


@pytest.mark.parametrize(
    "operator",
    [
        (
            "--metrics-bind-address",
            f"127.0.0.1:{METRICS}",
            "--health-probe-bind-address",
            f"127.0.0.1:{PROBES}",
            "--log-format",
            "json",
            "--leader-elect",
        )
    ],
    indirect=True,
)
def test_metrics_logs_and_probes_follow_a_cluster_created_and_resized(
    control_plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    wait_until(
        "/readyz to answer ready", lambda: http_get(PROBES, "/readyz") == (200, "ready\n"), 120
    )
    assert http_get(PROBES, "/healthz") == (200, "ok\n")
    before = scrape()
    assert value(before, "leader_election_master_status", name="kubedirector-operator") == 1
    assert total(before, "controller_runtime_reconcile_total") == 0
    assert total(before, "kubedirector_clusters") == 0

    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, recorder_cluster(2))
    wait_ready(control_plane, namespace)
    created = wait_until(
        "the metrics to show the configured cluster",
        lambda: (
            (s := scrape())
            and value(s, "kubedirector_members", state="configured") == 2
            and value(s, "kubedirector_clusters", state="configured") == 1
            and s
        ),
        60,
    )
    assert isinstance(created, dict)
    names = {name for name, _ in created}
    missing = [name for name in LISTED if name not in names]
    assert missing == []
    successes = value(created, "controller_runtime_reconcile_total", **CONTROLLER, result="success")
    assert (
        successes
        + value(created, "controller_runtime_reconcile_total", **CONTROLLER, result="requeue")
        > 0
    )
    assert value(created, "controller_runtime_reconcile_errors_total", **CONTROLLER) == 0
    assert value(created, "workqueue_adds_total", **QUEUE) > 0
    assert value(created, "kubedirector_actions_total", kind="configure", result="succeeded") == 2
    observed = {"plugin": "observed", "hook": "kd_configmeta"}
    hook_calls = value(created, "kubedirector_hook_call_duration_seconds_count", **observed)
    assert hook_calls > 0
    assert total(created, "kubedirector_hook_errors_total") == 0

    apply(control_plane, namespace, recorder_cluster(3))
    wait_ready(control_plane, namespace)
    resized = wait_until(
        "the metrics to show the resized cluster",
        lambda: (s := scrape()) and value(s, "kubedirector_members", state="configured") == 3 and s,
        60,
    )
    assert isinstance(resized, dict)
    assert value(resized, "kubedirector_clusters", state="configured") == 1
    assert total(resized, "controller_runtime_reconcile_total") > total(
        created, "controller_runtime_reconcile_total"
    )
    assert value(resized, "kubedirector_hook_call_duration_seconds_count", **observed) > hook_calls
    assert value(resized, "kubedirector_actions_total", kind="configure", result="succeeded") == 3
    assert value(resized, "kubedirector_actions_total", kind="addnodes", result="succeeded") == 2
    assert not any(
        "rec" in dict(labels).values() or namespace in dict(labels).values()
        for _, labels in resized
    ), "no series may be labelled with a cluster or a namespace"

    # Every line the operator printed is one JSON object; every line of the
    # reconciler (it logs only inside a reconcile) names the cluster.
    entries = [
        json.loads(line)
        for line in operator.log().splitlines()
        if line.strip() and not line.startswith("===== start")
    ]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    # The reconciler's and the plugin's lines are all logged inside a reconcile.
    inside = [
        e for e in entries if e["logger"] in ("kubedirector_core.runtime.reconciler", "observed")
    ]
    assert {e["logger"] for e in inside} == {"kubedirector_core.runtime.reconciler", "observed"}
    assert all((e.get("namespace"), e.get("cluster")) == (namespace, "rec") for e in inside), inside
    assert all(e.get("cluster") in (None, "rec") for e in entries)


class StallingProxy:
    """A loopback TLS proxy to the API server that can stall the StatefulSet watch streams.

    It terminates TLS (its certificate comes from the control plane's CA, so
    the operator trusts it) and reconnects upstream with the operator's own
    client certificate, reads each request line, and, while :attr:`stalling`
    is set, stops passing on the answer to any StatefulSet watch: the stream
    goes silent without closing, as in nolar/kopf#585. :meth:`release` stops
    stalling and closes the stalled connections, so kopf watches anew.
    """

    def __init__(self, control_plane: ControlPlane, operator_kubeconfig: Path) -> None:
        config = yaml.safe_load(operator_kubeconfig.read_text())
        user = config["users"][0]["user"]
        self.upstream = int(config["clusters"][0]["cluster"]["server"].rsplit(":", 1)[1])
        self.client_tls = ssl.create_default_context(cafile=str(control_plane.ca_certificate))
        self.client_tls.load_cert_chain(user["client-certificate"], user["client-key"])
        pair = control_plane.serving_certificate("stalling-proxy")
        self.server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_tls.load_cert_chain(str(pair.cert), str(pair.key))
        self.stalling = False
        self.stalled: list[asyncio.StreamWriter] = []
        self.connections: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0
        config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:{port}"
        self.config = config

    def start(self, kubeconfig: Path) -> Path:
        """Listen, and write a copy of the operator's kubeconfig that goes through the proxy."""
        self.thread.start()
        self.server = server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.server_tls), self.loop
        ).result(30)
        self.port = server.sockets[0].getsockname()[1]
        cluster = self.config["clusters"][0]["cluster"]
        cluster["server"] = cluster["server"].format(port=self.port)
        kubeconfig.write_text(yaml.safe_dump(self.config))
        return kubeconfig

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream, ssl=self.client_tls, server_hostname="127.0.0.1"
            )
            held: list[bool] = [False]
            directions = {
                asyncio.ensure_future(self._requests(reader, upstream[1], writer, held)),
                asyncio.ensure_future(self._answers(upstream[0], writer, held)),
            }
            try:
                await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for direction in directions:
                    direction.cancel()
                await asyncio.gather(*directions, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self.connections.discard(writer)
            for end in (writer, upstream[1] if upstream else None):
                if end is not None:
                    end.close()
                    with contextlib.suppress(Exception):
                        await end.wait_closed()

    async def _requests(
        self,
        reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        held: list[bool],
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                return
            line, *headers = head.decode("latin-1").split("\r\n")
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (h.partition(":") for h in headers if h)
            }
            body = await reader.readexactly(int(fields.get("content-length") or 0))
            if self.stalling and "/statefulsets?" in line and "watch=true" in line:
                held[0] = True
                self.stalled.append(client)
            upstream.write(head + body)
            await upstream.drain()
            if "upgrade" in fields:  # exec: the rest is a WebSocket, passed on as it is
                while data := await reader.read(65536):
                    upstream.write(data)
                    await upstream.drain()
                return

    async def _answers(
        self, upstream: asyncio.StreamReader, client: asyncio.StreamWriter, held: list[bool]
    ) -> None:
        while data := await upstream.read(65536):
            if not held[0]:
                client.write(data)
                await client.drain()

    def release(self) -> None:
        """Stop stalling; close the stalled connections so their watches are made anew."""

        def close() -> None:
            self.stalling = False
            for client in self.stalled:
                client.close()

        self.loop.call_soon_threadsafe(close)

    def stop(self) -> None:
        """Close every connection and the listening socket, then the proxy's loop."""

        async def shut() -> None:
            if self.server is not None:
                self.server.close()
            for client in list(self.connections):
                client.close()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()


def test_a_stalled_watch_stream_fails_liveness_until_it_is_renewed(
    control_plane: ControlPlane, kubedirector_crds: None, namespace: str, tmp_path: Path
) -> None:
    proxy = StallingProxy(control_plane, grant_operator(control_plane))
    kubeconfig = proxy.start(tmp_path / "through-proxy.kubeconfig")
    probes = free_port()
    # --watch-timeout 5: liveness expects a write's echo within 10 s.
    args = ["--health-probe-bind-address", f"127.0.0.1:{probes}", "--watch-timeout", "5"]
    operator = OperatorProcess(kubeconfig, [namespace], tmp_path / "operator.log", args)
    operator.start()
    try:
        wait_until("ready", lambda: http_get(probes, "/readyz") == (200, "ready\n"), 120)
        apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "s.tgz")))
        apply(control_plane, namespace, recorder_cluster(2))
        wait_ready(control_plane, namespace)
        assert http_get(probes, "/healthz") == (200, "ok\n")

        proxy.stalling = True
        wait_until("the StatefulSet watch to be stalled", lambda: proxy.stalled, 60)
        apply(control_plane, namespace, recorder_cluster(3))  # the operator applies the StatefulSet

        def failing() -> str | None:
            status, body = http_get(probes, "/healthz")
            return body if status == 503 else None

        assert wait_until("liveness to fail", failing, 120) == (
            "the StatefulSet watch stream is stalled: "
            "a write has not come back as an event within 10 s\n"
        )
        proxy.release()
        wait_until(
            "liveness to recover", lambda: http_get(probes, "/healthz") == (200, "ok\n"), 120
        )
        assert len(members(wait_ready(control_plane, namespace))) == 3
    except BaseException:
        sys.stderr.write(f"\n----- operator log -----\n{operator.log()[-15000:]}")
        raise
    finally:
        proxy.release()
        control_plane.kubectl(
            "delete", "kubedirectorclusters", "--all", "-n", namespace, "--timeout=60s", check=False
        )
        operator.stop()
        proxy.stop()
