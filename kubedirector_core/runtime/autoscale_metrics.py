"""Reading the metrics of autoscaled roles: the I/O behind ``Observed.metrics``.

For each autoscaled role that is due for evaluation
(:func:`~kubedirector_core.plan.autoscale.roles_due`), :class:`MetricsReader`
reads the role's ``autoscale.metricSource``:

``Resource`` (the default)
    the ``metrics.k8s.io/v1beta1`` PodMetrics of the cluster's pods;
    ``cpu_utilization`` is the summed CPU usage of the role's ready pods over
    their summed CPU requests (:func:`cpu_utilization`). A cluster that does
    not serve that API (404 or 503) gives the role the reason
    :data:`NO_METRICS_API`.
``Prometheus``
    ``GET <url>/api/v1/query?query=<query>``; a ``scalar`` result, or the
    *mean* of the samples of a ``vector`` (a role-wide value such as a mean
    utilization; write the query with ``sum(...)`` to get a total), is given
    under ``metric`` (``cpu_utilization`` unless set) (:func:`prometheus_value`).
``Plugin``
    the app's plugin names a URL (``kd_metrics_endpoint``; the source's
    ``url`` overrides it), the core GETs it and the plugin parses the body
    (``kd_read_metrics``).

Every read is bounded by :data:`DEFAULT_TIMEOUT` seconds. Reads run in the
reconcile's worker thread (the operator runs reconciles in its executor),
never on the event loop. A role whose metrics cannot be read is left out of
:attr:`RoleMetrics.metrics` and its reason, for people, is in
:attr:`RoleMetrics.errors`; nothing here raises for a role's own fault.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster, parse_quantity
from kubedirector_core.api.cluster import ClusterRole, MetricSource
from kubedirector_core.errors import PluginError
from kubedirector_core.hooktypes import CPU_UTILIZATION, MetricsReading
from kubedirector_core.plan.autoscale import enabled, listed_members, roles_due
from kubedirector_core.plan.model import ObservedPod
from kubedirector_core.plan.names import CLUSTER_DOMAIN, label_value
from kubedirector_core.plugins import Hooks
from kubedirector_core.runtime.kubeapi import ApiError
from kubedirector_core.runtime.objects import CLUSTER_LABEL

#: Seconds one metrics read (one HTTP GET, or one metrics.k8s.io request) may take.
DEFAULT_TIMEOUT: Final = 5.0
#: The most of a response body that is read.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
#: The resource metrics API's path.
METRICS_API: Final = "/apis/metrics.k8s.io/v1beta1"
#: The reason given when the resource metrics API is not served.
NO_METRICS_API: Final = (
    "metrics.k8s.io is not available on this cluster: install metrics-server, or give the "
    "role another autoscale.metricSource (Prometheus or Plugin)"
)


class MetricsError(Exception):
    """A role's metrics could not be read; the message says why, for people."""


#: ``fetch(url, timeout)``: the body of a successful GET, or :class:`MetricsError`.
Fetch = Callable[[str, float], str]


class ResourceMetricsApi(Protocol):
    """GETs on the API server, as :meth:`KubeApi.request` does (the reconciler's ``api``)."""

    def request(self, method: str, path: str, *, query: Sequence[tuple[str, str]] = ()) -> Any:
        """Send one request; raise :class:`ApiError` when refused."""
        ...


@dataclass(frozen=True)
class RoleMetrics:
    """The metrics read for one cluster: by role id, then by metric name; and failures."""

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Why a role's metrics could not be read, by role id.
    errors: dict[str, str] = field(default_factory=dict)


def http_get(url: str, timeout: float) -> str:
    """The body of ``GET url``, decoded as UTF-8; :class:`MetricsError` on any failure."""
    if not url.startswith(("http://", "https://")):
        raise MetricsError(f"GET {url}: only http:// and https:// URLs are read")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, headers={"Accept": "application/json, */*;q=0.5", "User-Agent": "kubedirector"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return bytes(response.read(MAX_BODY_BYTES)).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        raise MetricsError(f"GET {url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise MetricsError(f"GET {url}: {_describe(error.reason)}") from error
    except TimeoutError as error:
        raise MetricsError(f"GET {url}: no answer within {timeout:g} s") from error
    except OSError as error:
        raise MetricsError(f"GET {url}: {_describe(error)}") from error


def _describe(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason)


def prometheus_query_url(base: str, query: str) -> str:
    """The instant-query URL of the Prometheus HTTP API at ``base``."""
    return f"{base.rstrip('/')}/api/v1/query?{urlencode({'query': query})}"


def prometheus_value(body: str) -> float:
    """The value of a Prometheus instant-query answer: a scalar, or a vector's mean sample.

    Raises :class:`MetricsError` saying what was wrong: not JSON, a failed
    query, no samples, another result type, or a value that is not a finite
    number.
    """
    try:
        answer = json.loads(body)
    except ValueError as error:
        raise MetricsError(f"the answer is not Prometheus JSON: {error}") from error
    if not isinstance(answer, Mapping):
        raise MetricsError("the answer is not a Prometheus API response")
    if answer.get("status") != "success":
        raise MetricsError(
            f"the query failed: {answer.get('errorType', 'error')}: {answer.get('error', '')}"
        )
    data = answer.get("data")
    kind = data.get("resultType") if isinstance(data, Mapping) else None
    result = data.get("result") if isinstance(data, Mapping) else None
    if kind == "scalar" and isinstance(result, Sequence):
        return _sample(result)
    if kind == "vector" and isinstance(result, Sequence):
        if not result:
            raise MetricsError("the query returned no samples")
        values = [_sample(s.get("value") if isinstance(s, Mapping) else None) for s in result]
        return sum(values) / len(values)
    raise MetricsError(
        f"the query returned a {kind or 'malformed'} result; expected a vector or scalar"
    )


def _sample(pair: object) -> float:
    """The number of a ``[timestamp, "value"]`` pair."""
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
        raise MetricsError(f"malformed sample {pair!r}")
    try:
        value = float(pair[1])
    except (TypeError, ValueError) as error:
        raise MetricsError(f"sample value {pair[1]!r} is not a number") from error
    if not math.isfinite(value):
        raise MetricsError(f"sample value {pair[1]} is not a finite number")
    return value


def cpu_utilization(pod_metrics: Sequence[Mapping[str, Any]], pods: Sequence[ObservedPod]) -> float:
    """Summed CPU usage over summed CPU requests of the ready ``pods`` that have metrics.

    ``pod_metrics`` are PodMetrics items (``metadata.name``, ``containers[].usage.cpu``).
    Raises :class:`MetricsError` when no ready pod has both metrics and a CPU request.
    """
    usage_by_pod: dict[str, float] = {}
    for item in pod_metrics:
        name = (item.get("metadata") or {}).get("name")
        containers = item.get("containers") or []
        try:
            usage = sum(
                float(parse_quantity((c.get("usage") or {}).get("cpu", "0"))) for c in containers
            )
        except ValueError as error:
            raise MetricsError(f"PodMetrics of {name}: {error}") from error
        if isinstance(name, str):
            usage_by_pod[name] = usage
    ready = [pod for pod in pods if pod.ready and not pod.deleting]
    if not ready:
        raise MetricsError("no member is ready")
    measured = [pod for pod in ready if pod.name in usage_by_pod]
    if not measured:
        raise MetricsError("metrics.k8s.io has no PodMetrics for the ready members yet")
    requested = sum(pod.requests.get("cpu", 0.0) for pod in measured)
    if requested <= 0:
        raise MetricsError(
            "the members request no cpu, so cpu utilization is undefined: "
            "set resources.requests.cpu"
        )
    return sum(usage_by_pod[pod.name] for pod in measured) / requested


class MetricsReader:
    """Reads the metrics of a cluster's autoscaled roles that are due for evaluation."""

    def __init__(
        self,
        api: ResourceMetricsApi,
        hooks: Hooks,
        *,
        fetch: Fetch = http_get,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.api = api
        self.hooks = hooks
        self.fetch = fetch
        self.timeout = timeout

    def read(
        self,
        cluster: KubeDirectorCluster,
        app: KubeDirectorApp | None,
        pods: Mapping[str, ObservedPod],
        now: datetime,
        *,
        domain_base: str = CLUSTER_DOMAIN,
    ) -> RoleMetrics:
        """Metrics of every autoscaled role due at ``now``; roles not due cost nothing.

        ``domain_base`` ends the members' hostnames given to the plugins'
        metrics hooks (KubeDirectorConfig's ``clusterSvcDomainBase``).
        """
        result = RoleMetrics()
        if app is None:
            return result
        due = set(roles_due(cluster, app, now))
        pod_metrics: list[Mapping[str, Any]] | None = None
        for role in cluster.spec.roles:
            settings = enabled(role)
            if role.id not in due or settings is None:
                continue
            source = settings.metric_source or MetricSource(type="Resource")
            try:
                if source.type == "Resource":
                    if pod_metrics is None:
                        pod_metrics = self._pod_metrics(cluster)
                    role_pods = [p for p in pods.values() if p.role_id == role.id]
                    value = cpu_utilization(pod_metrics, role_pods)
                    result.metrics[role.id] = {CPU_UTILIZATION: value}
                elif source.type == "Prometheus":
                    url = prometheus_query_url(str(source.url), str(source.query))
                    value = prometheus_value(self.fetch(url, self.timeout))
                    result.metrics[role.id] = {source.metric or CPU_UTILIZATION: value}
                else:
                    result.metrics[role.id] = self._from_plugin(
                        cluster, app, role, source, pods, domain_base
                    )
            except MetricsError as error:
                result.errors[role.id] = str(error)
            except PluginError as error:
                result.errors[role.id] = str(error)
        return result

    def _pod_metrics(self, cluster: KubeDirectorCluster) -> list[Mapping[str, Any]]:
        path = f"{METRICS_API}/namespaces/{cluster.namespace or 'default'}/pods"
        selector = f"{CLUSTER_LABEL}={label_value(cluster.name)}"
        try:
            body = self.api.request("GET", path, query=[("labelSelector", selector)])
        except ApiError as error:
            if error.status in (404, 503):
                raise MetricsError(NO_METRICS_API) from error
            raise MetricsError(f"reading PodMetrics: {error}") from error
        items = body.get("items") if isinstance(body, Mapping) else None
        return [item for item in items or [] if isinstance(item, Mapping)]

    def _from_plugin(
        self,
        cluster: KubeDirectorCluster,
        app: KubeDirectorApp,
        role: ClusterRole,
        source: MetricSource,
        pods: Mapping[str, ObservedPod],
        domain_base: str,
    ) -> dict[str, float]:
        members = listed_members(cluster, pods, domain_base=domain_base)
        endpoint = self.hooks.metrics_endpoint(app, cluster, role.id, members)
        url = source.url or (endpoint.url if endpoint is not None else None)
        if url is None:
            raise MetricsError(
                "no plugin gives a metrics endpoint for the role (kd_metrics_endpoint) and "
                "autoscale.metricSource.url is not set"
            )
        reading = MetricsReading(
            role=role.id, members=members, url=url, body=self.fetch(url, self.timeout)
        )
        answer = self.hooks.read_metrics(app, cluster, reading)
        if answer is None:
            raise MetricsError(f"no plugin read the metrics fetched from {url} (kd_read_metrics)")
        return answer[0]


__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_METRICS_API",
    "MetricsError",
    "MetricsReader",
    "RoleMetrics",
    "cpu_utilization",
    "http_get",
    "prometheus_query_url",
    "prometheus_value",
]
