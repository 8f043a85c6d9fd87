"""Metric sources: Prometheus answers, PodMetrics utilization, plugin endpoints and failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kubedirector_core import (
    KubeDirectorApp,
    KubeDirectorCluster,
    Member,
    MetricsEndpoint,
    MetricsReading,
    hookimpl,
)
from kubedirector_core.plan.model import ObservedPod
from kubedirector_core.plugins import Hooks, PluginSettings, load_hooks
from kubedirector_core.runtime.autoscale_metrics import (
    NO_METRICS_API,
    MetricsError,
    MetricsReader,
    cpu_utilization,
    http_get,
    prometheus_query_url,
    prometheus_value,
)
from kubedirector_core.runtime.kubeapi import ApiError

from .apps import DEMO_APP

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _vector(*values: str) -> str:
    samples = [{"metric": {"pod": f"p{i}"}, "value": [1.7e9, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": samples}})


# -- Prometheus --------------------------------------------------------------------


def test_a_vector_gives_the_mean_of_its_samples() -> None:
    assert prometheus_value(_vector("0.5", "1.5", "1")) == pytest.approx(1.0)


def test_a_scalar_gives_its_value() -> None:
    body = {"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "4.25"]}}
    assert prometheus_value(json.dumps(body)) == 4.25


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_vector(), "no samples"),
        (_vector("NaN"), "not a finite number"),
        (_vector("+Inf"), "not a finite number"),
        (_vector("lots"), "not a number"),
        ("<html>busy</html>", "not Prometheus JSON"),
        (
            json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}),
            "the query failed: bad_data: parse error",
        ),
        (
            json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}),
            "a matrix result; expected a vector or scalar",
        ),
    ],
    ids=["empty", "nan", "inf", "word", "html", "error", "matrix"],
)
def test_a_bad_prometheus_answer_says_what_is_wrong(body: str, says: str) -> None:
    with pytest.raises(MetricsError, match=says):
        prometheus_value(body)


def test_the_query_is_url_encoded_under_the_api_path() -> None:
    url = prometheus_query_url("http://prom:9090/", 'avg(load{role="worker"})')
    assert url == "http://prom:9090/api/v1/query?query=avg%28load%7Brole%3D%22worker%22%7D%29"


# -- PodMetrics --------------------------------------------------------------------


def _pod(name: str, cpu: float, *, ready: bool = True, role: str = "worker") -> ObservedPod:
    return ObservedPod(
        name=name,
        role_id=role,
        uid=f"uid-{name}",
        node_name="n1",
        phase="Running",
        ready=ready,
        container_id=None,
        ip=None,
        requests={"cpu": cpu} if cpu else {},
    )


def _usage(name: str, *cpus: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "containers": [{"name": f"c{i}", "usage": {"cpu": c}} for i, c in enumerate(cpus)],
    }


def test_utilization_is_summed_usage_over_summed_requests_of_ready_pods() -> None:
    pods = [_pod("w-0", 0.5), _pod("w-1", 1.0), _pod("w-2", 1.0, ready=False)]
    metrics = [_usage("w-0", "250m", "250m"), _usage("w-1", "1"), _usage("w-2", "4")]
    # (0.5 + 1.0) / (0.5 + 1.0): the unready pod's usage does not count.
    assert cpu_utilization(metrics, pods) == pytest.approx(1.0)
    assert cpu_utilization([_usage("w-0", "100m"), _usage("w-1", "200m")], pods) == pytest.approx(
        0.2
    )


def test_utilization_ignores_pods_without_metrics_yet() -> None:
    pods = [_pod("w-0", 1.0), _pod("w-1", 1.0)]
    assert cpu_utilization([_usage("w-0", "500m")], pods) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("pods", "metrics", "says"),
    [
        ([_pod("w-0", 1.0, ready=False)], [_usage("w-0", "1")], "no member is ready"),
        ([_pod("w-0", 1.0)], [], "no PodMetrics"),
        ([_pod("w-0", 0)], [_usage("w-0", "1")], "request no cpu"),
        ([_pod("w-0", 1.0)], [_usage("w-0", "lots")], "not a quantity"),
    ],
    ids=["unready", "no-metrics", "no-request", "bad-quantity"],
)
def test_utilization_that_cannot_be_computed_says_why(
    pods: list[ObservedPod], metrics: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(MetricsError, match=says):
        cpu_utilization(metrics, pods)


# -- the reader --------------------------------------------------------------------


def _cluster(source: Mapping[str, Any], status: Mapping[str, Any] | None = None) -> Any:
    document: dict[str, Any] = {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": {"name": "c1", "namespace": "ns"},
        "spec": {
            "app": "demo",
            "roles": [
                {
                    "id": "worker",
                    "members": 2,
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    "autoscale": {"minMembers": 1, "maxMembers": 4, "metricSource": source},
                }
            ],
        },
    }
    if status is not None:
        document["status"] = status
    return KubeDirectorCluster.from_wire(document)


class Refusing:
    """An API connection whose every request is refused with one status."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.paths: list[str] = []

    def request(self, method: str, path: str, *, query: Sequence[tuple[str, str]] = ()) -> Any:
        self.paths.append(path)
        raise ApiError(method, path, self.status, "the server could not find the resource")


class Fetched:
    """Answers ``fetch(url, timeout)`` with ``body``; records the URLs."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float) -> str:
        self.urls.append(url)
        return self.body


def _hooks(*plugins: tuple[str, object]) -> Hooks:
    hooks = load_hooks(PluginSettings(autoload=False))
    for name, plugin in plugins:
        hooks.plugin_manager.register(plugin, name=name)
    return hooks


@pytest.fixture
def app() -> KubeDirectorApp:
    return KubeDirectorApp.from_wire(DEMO_APP)


def test_no_metrics_api_is_a_clear_reason(app: KubeDirectorApp) -> None:
    for status in (404, 503):
        api = Refusing(status)
        read = MetricsReader(api, _hooks()).read(_cluster({"type": "Resource"}), app, {}, NOW)
        assert read.metrics == {}
        assert read.errors == {"worker": NO_METRICS_API}
        assert api.paths == ["/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods"]


def test_a_role_not_due_reads_nothing(app: KubeDirectorApp) -> None:
    status = {"autoscale": [{"role": "worker", "lastEvaluatedAt": "2026-01-01T11:59:50Z"}]}
    fetch = Fetched(_vector("1"))
    source = {"type": "Prometheus", "url": "http://prom:9090", "query": "up"}
    reader = MetricsReader(Refusing(404), _hooks(), fetch=fetch)
    assert reader.read(_cluster(source, status), app, {}, NOW).metrics == {}  # 10 s < 30 s
    assert fetch.urls == []
    later = NOW.replace(second=20)
    read = reader.read(_cluster(source, status), app, {}, later)
    assert read.metrics == {"worker": {"cpu_utilization": 1.0}}
    assert fetch.urls == ["http://prom:9090/api/v1/query?query=up"]


def test_a_prometheus_source_names_its_metric(app: KubeDirectorApp) -> None:
    source = {"type": "Prometheus", "url": "http://prom", "query": "q", "metric": "load"}
    reader = MetricsReader(Refusing(404), _hooks(), fetch=Fetched(_vector("2", "4")))
    assert reader.read(_cluster(source), app, {}, NOW).metrics == {"worker": {"load": 3.0}}


class Yarnish:
    """Names an endpoint on the first member and reads ``pending=<n>`` bodies."""

    def __init__(self, answer: object = None) -> None:
        self.answer = answer
        self.readings: list[MetricsReading] = []

    @hookimpl
    def kd_claims(self) -> tuple[str, ...]:
        return ("example/*",)

    @hookimpl
    def kd_metrics_endpoint(self, role: str, members: Sequence[Member]) -> MetricsEndpoint:
        return MetricsEndpoint(url=f"http://{role}.example:8088/metrics")

    @hookimpl
    def kd_read_metrics(self, reading: MetricsReading) -> object:
        self.readings.append(reading)
        if self.answer is not None:
            return self.answer
        return {"pending": float(reading.body.removeprefix("pending="))}


def test_a_plugin_source_fetches_the_plugins_url_and_the_plugin_parses(
    app: KubeDirectorApp,
) -> None:
    plugin = Yarnish()
    fetch = Fetched("pending=12")
    reader = MetricsReader(Refusing(404), _hooks(("yarnish", plugin)), fetch=fetch)
    read = reader.read(_cluster({"type": "Plugin"}), app, {}, NOW)
    assert read.metrics == {"worker": {"pending": 12.0}}
    assert fetch.urls == ["http://worker.example:8088/metrics"]
    assert plugin.readings[0].body == "pending=12"


def test_the_sources_url_overrides_the_plugins(app: KubeDirectorApp) -> None:
    fetch = Fetched("pending=3")
    reader = MetricsReader(Refusing(404), _hooks(("yarnish", Yarnish())), fetch=fetch)
    source = {"type": "Plugin", "url": "http://127.0.0.1:8000/m"}
    assert reader.read(_cluster(source), app, {}, NOW).metrics == {"worker": {"pending": 3.0}}
    assert fetch.urls == ["http://127.0.0.1:8000/m"]


def test_a_plugin_source_without_any_endpoint_says_so(app: KubeDirectorApp) -> None:
    read = MetricsReader(Refusing(404), _hooks()).read(_cluster({"type": "Plugin"}), app, {}, NOW)
    assert "kd_metrics_endpoint" in read.errors["worker"]


def test_a_plugin_reading_nonsense_is_reported_naming_it(app: KubeDirectorApp) -> None:
    hooks = _hooks(("yarnish", Yarnish(answer={"pending": "12"})))
    reader = MetricsReader(Refusing(404), hooks, fetch=Fetched("pending=12"))
    read = reader.read(_cluster({"type": "Plugin"}), app, {}, NOW)
    assert read.metrics == {}
    assert "yarnish" in read.errors["worker"]
    assert "kd_read_metrics" in read.errors["worker"]


# -- HTTP, on loopback -------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path.startswith("/ok") else 500
        body = b"pending=5" if status == 200 else b"overloaded"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_get_reads_the_body_and_reports_failures_with_the_url(loopback: str) -> None:
    assert http_get(f"{loopback}/ok", 5.0) == "pending=5"
    with pytest.raises(MetricsError, match=rf"GET {loopback}/fail: HTTP 500"):
        http_get(f"{loopback}/fail", 5.0)
    with pytest.raises(MetricsError, match=r"GET http://127.0.0.1:9/x: connection refused"):
        http_get("http://127.0.0.1:9/x", 5.0)
    with pytest.raises(MetricsError, match="only http"):
        http_get("file:///etc/hostname", 5.0)
