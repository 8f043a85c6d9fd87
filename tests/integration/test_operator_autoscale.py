"""Autoscaling on the real control plane, driven by a Prometheus-style endpoint on loopback.

The test serves the Prometheus HTTP API's instant-query format from a stdlib
server on 127.0.0.1 and changes the values it answers; a throwaway plugin,
loaded by the operator subprocess through ``KD_EXTRA_PLUGINS``, is the
autoscale policy: one worker per unit of ``load`` (``ceil(load)``), ``None``
when it has no ``load`` metric (so the core's default decides), and nonsense
(``-1``, ``"3"``) for two magic loads. What is asserted comes from the
cluster's status (``autoscale[].recommendations`` and ``lastDecision``), the
StatefulSet's replicas as observed, Events and what the members' recording
startscript received, never from how fast anything happened.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    cluster_ready,
    condition,
    event_messages,
    fqdns_in,
    get_cluster,
    make_setup_package,
    members,
    named,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
    warning_events,
)

pytestmark = pytest.mark.controlplane

PLUGIN_NAME = "kdscaler"
PLUGIN_MODULE = "kd_throwaway_scaler_plugin"
PLUGIN_SOURCE = f'''
"""An autoscale policy for the recorder app: one worker per unit of load."""

import math

from kubedirector_core import hookimpl

KD_PLUGIN_NAME = "{PLUGIN_NAME}"


@hookimpl
def kd_claims():
    return ["recorder"]


@hookimpl
def kd_autoscale_policy(request):
    load = request.metrics.get("load")
    if load is None:
        return None  # abstain: the core's default decides from cpu_utilization
    if load == -1:
        return -1
    if load == 33:
        return "3"
    return math.ceil(load)
'''

INTERVAL = 2
DOWN_WINDOW = 6
TIMEOUT = 150.0


@pytest.fixture
def operator_env(tmp_path: Path) -> dict[str, str]:
    """Load the throwaway policy plugin, and no installed plugin, into the operator."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{PLUGIN_MODULE}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    return {
        "KD_EXTRA_PLUGINS": PLUGIN_MODULE,
        "KD_PLUGIN_AUTOLOAD": "0",
        "PYTHONPATH": str(folder),
    }


class Prometheus:
    """Answers ``GET /api/v1/query?query=NAME`` with one sample of ``values[NAME]``."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.queries: list[str] = []
        prometheus = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query).get("query", [""])[0]
                prometheus.queries.append(query)
                value = prometheus.values.get(query)
                samples = (
                    [] if value is None else [{"metric": {}, "value": [time.time(), str(value)]}]
                )
                body = json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": samples}}
                ).encode()
                self.send_response(200 if parts.path == "/api/v1/query" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def prometheus() -> Iterator[Prometheus]:
    served = Prometheus()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


def autoscaled(
    name: str, url: str, query: str, *, metric: str | None = "load", high: int = 5, **extra: Any
) -> dict[str, Any]:
    """The recorder cluster ``name`` with 2 workers, autoscaled between 2 and ``high``."""
    document = named(recorder_cluster(2), name)
    source: dict[str, Any] = {"type": "Prometheus", "url": url, "query": query}
    if metric is not None:
        source["metric"] = metric
    document["spec"]["roles"][0]["autoscale"] = {
        "minMembers": 2,
        "maxMembers": high,
        "evaluationIntervalSeconds": INTERVAL,
        "scaleUpStabilizationSeconds": 0,
        "scaleDownStabilizationSeconds": DOWN_WINDOW,
        "metricSource": source,
        **extra,
    }
    return document


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


class Watch:
    """``kubectl get ... --watch -o json`` in the background: every version of the objects."""

    def __init__(self, control_plane: ControlPlane, *args: str) -> None:
        self.objects: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [
                str(control_plane.kubectl_path),
                f"--kubeconfig={control_plane.kubeconfig}",
                "get",
                *args,
                "--watch",
                "-o",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        text = ""
        for line in self.process.stdout:
            text += line
            if line.rstrip("\n") == "}":  # the end of one pretty-printed object
                self.objects.append(json.loads(text))
                text = ""

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        self.thread.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class History:
    """Every version of one cluster and its StatefulSet seen by watches, from the start.

    Watching (rather than polling) sees each status the operator wrote, so no
    decision is missed however slow the machine is.
    """

    def __init__(self, control_plane: ControlPlane, namespace: str, name: str) -> None:
        self.clusters = Watch(control_plane, "kubedirectorcluster", name, "-n", namespace)
        self.statefulsets = Watch(
            control_plane,
            "statefulsets",
            "-n",
            namespace,
            "-l",
            f"kubedirector.hpe.com/kdcluster={name}",
        )

    def stop(self) -> None:
        self.clusters.stop()
        self.statefulsets.stop()

    @property
    def cluster(self) -> dict[str, Any]:
        """The latest version of the cluster seen."""
        return self.clusters.objects[-1] if self.clusters.objects else {}

    @property
    def decisions(self) -> dict[str, dict[str, Any]]:
        """Every ``lastDecision`` seen, by its time."""
        return {
            d["at"]: d
            for c in list(self.clusters.objects)
            for r in (c.get("status") or {}).get("autoscale") or []
            if (d := r.get("lastDecision")) and d.get("at")
        }

    @property
    def recommendations(self) -> set[tuple[str, int]]:
        """Every recommendation seen: (time, member count)."""
        return {
            (r["at"], int(r["members"]))
            for c in list(self.clusters.objects)
            for record in (c.get("status") or {}).get("autoscale") or []
            for r in record.get("recommendations") or []
        }

    @property
    def replicas(self) -> list[int]:
        """The StatefulSet's ``spec.replicas`` as it changed."""
        seen: list[int] = []
        for sts in list(self.statefulsets.objects):
            replicas = int(sts["spec"].get("replicas", 0))
            if not seen or seen[-1] != replicas:
                seen.append(replicas)
        return seen

    def until(self, what: str, check: Any, timeout: float = TIMEOUT) -> None:
        wait_until(what, lambda: check(self.cluster), timeout=timeout, interval=0.1)


@pytest.fixture
def watched(control_plane: ControlPlane, namespace: str) -> Iterator[Callable[[str], History]]:
    """``watched(name)``: a :class:`History` of cluster ``name``, stopped after the test."""
    histories: list[History] = []

    def watch(name: str) -> History:
        histories.append(History(control_plane, namespace, name))
        return histories[-1]

    yield watch
    for history in histories:
        history.stop()


def _ready_with(cluster: dict[str, Any], count: int) -> bool:
    return cluster_ready(cluster) and len(members(cluster)) == count


def test_workers_scale_2_to_5_to_2_within_bounds_and_windows(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    prometheus: Prometheus,
    watched: Callable[[str], History],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    prometheus.values["load"] = 2
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, autoscaled("rec", prometheus.url, "load"))
    history = watched("rec")
    history.until("rec Ready with 2 workers", lambda c: _ready_with(c, 2))
    history.until(
        "a decision by the plugin",
        lambda c: any(d.get("plugin") == PLUGIN_NAME for d in history.decisions.values()),
    )

    # Load rises: the policy asks 9, the role grows straight to max (scale-up window 0).
    prometheus.values["load"] = 9
    history.until("rec Ready with 5 workers", lambda c: _ready_with(c, 5))
    [grow] = [
        d
        for d in history.decisions.values()
        if (d["currentMembers"], d["desiredMembers"]) == (2, 5)
    ]
    assert (grow["currentMembers"], grow["recommendedMembers"], grow["desiredMembers"]) == (2, 5, 5)
    assert grow["plugin"] == PLUGIN_NAME
    assert grow["metrics"] == {"load": 9.0}
    assert max(history.replicas) == 5

    # Load drops: held at 5 by the scale-down window, then down to min (never below).
    dropped = time.monotonic()
    prometheus.values["load"] = 1
    history.until("rec Ready with 2 workers again", lambda c: _ready_with(c, 2))
    decisions = sorted(history.decisions.values(), key=lambda d: d["at"])
    [shrink] = [d for d in decisions if d["currentMembers"] == 5 and d["desiredMembers"] < 5]
    assert shrink["desiredMembers"] == 2
    held = [
        d
        for d in decisions
        if d["at"] < shrink["at"] and d.get("recommendedMembers") == 2 and d["desiredMembers"] == 5
    ]
    assert all("scale-down window" in d["reason"] for d in held)
    # The windows, from the recorded recommendations (times in whole seconds; a window of
    # N seconds holds what was recommended less than N seconds before): nothing above 2
    # was recommended within DOWN_WINDOW seconds before the shrink, and 5 just before that.
    at = _time(shrink["at"])
    ages = {(t, m): (at - _time(t)).total_seconds() for t, m in history.recommendations}
    recent = [m for (t, m), age in ages.items() if 0 <= age < DOWN_WINDOW]
    assert recent
    assert max(recent) == 2, sorted(ages.items())
    last_high = min(age for (t, m), age in ages.items() if m == 5 and age >= 0)
    assert last_high >= DOWN_WINDOW, sorted(ages.items())
    # 2 was recommended before the shrink while the role stayed at 5: the window held it.
    assert any(m == 2 and age > 0 for (t, m), age in ages.items()), sorted(ages.items())
    # The StatefulSet went 2 -> 5 -> 2, never beyond the bounds.
    assert history.replicas == [2, 5, 2]

    # The shrink went through the resize path: the kept members were told with --delnodes.
    kept = [m["pod"] for m in members(history.cluster)]
    for pod in kept:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        assert calls.count("--configure") == 1, calls
        deleted = [f for c in calls if c.startswith("--delnodes") for f in fqdns_in(c)]
        assert len(deleted) == 3, calls
    messages = sorted(event_messages(control_plane, namespace, "rec", "Autoscaled"))
    assert any("2 -> 5 members" in m and PLUGIN_NAME in m for m in messages), messages
    assert any("5 -> 2 members" in m for m in messages), messages
    print(
        f"\n2->5->2 in {time.monotonic() - started:.1f}s "
        f"(scale-down {time.monotonic() - dropped:.1f}s); replicas {history.replicas}"
    )


def test_default_policy_and_bad_inputs_keep_the_size_with_clear_reasons(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    prometheus: Prometheus,
    watched: Callable[[str], History],
    tmp_path: Path,
) -> None:
    prometheus.values.update({"util": 1.05, "silly": -1})
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    # No "load" metric: the plugin abstains and the core's default steers cpu_utilization.
    apply(control_plane, namespace, autoscaled("dflt", prometheus.url, "util", metric=None, high=3))
    apply(control_plane, namespace, autoscaled("lost", "http://127.0.0.1:9", "load"))
    apply(control_plane, namespace, autoscaled("silly", prometheus.url, "silly"))
    nometrics = named(recorder_cluster(2), "nometrics")
    nometrics["spec"]["roles"][0]["autoscale"] = {
        "minMembers": 2,
        "maxMembers": 4,
        "evaluationIntervalSeconds": INTERVAL,
    }
    apply(control_plane, namespace, nometrics)

    dflt = watched("dflt")
    dflt.until("dflt Ready with 3 workers", lambda c: _ready_with(c, 3))
    [grow] = [
        d for d in dflt.decisions.values() if (d["currentMembers"], d["desiredMembers"]) == (2, 3)
    ]
    assert grow["plugin"] == "core"
    assert grow["metrics"] == {"cpu_utilization": 1.05}

    def autoscaling(name: str) -> dict[str, Any]:
        return condition(get_cluster(control_plane, namespace, name), "Autoscaling")

    lost = wait_until(
        "lost: Autoscaling False naming the URL",
        lambda: (c := autoscaling("lost")).get("status") == "False" and c,
        timeout=TIMEOUT,
    )
    assert isinstance(lost, dict)
    assert lost["reason"] == "MetricsUnavailable"
    assert "http://127.0.0.1:9/api/v1/query" in lost["message"]
    assert "keeping 2 members" in lost["message"]

    silly = wait_until(
        "silly: Autoscaling False naming the plugin",
        lambda: (c := autoscaling("silly")).get("status") == "False" and c,
        timeout=TIMEOUT,
    )
    assert isinstance(silly, dict)
    assert silly["reason"] == "PolicyFailed"
    assert PLUGIN_NAME in silly["message"]
    assert "-1" in silly["message"]
    prometheus.values["silly"] = 33  # the policy now answers the string "3"
    wait_until(
        "silly: the policy's string answer reported",
        lambda: "'3'" in autoscaling("silly").get("message", ""),
        timeout=TIMEOUT,
    )

    missing = wait_until(
        "nometrics: Autoscaling False, the resource metrics API is missing",
        lambda: (c := autoscaling("nometrics")).get("status") == "False" and c,
        timeout=TIMEOUT,
    )
    assert isinstance(missing, dict)
    assert "metrics.k8s.io is not available on this cluster" in missing["message"]

    for name in ("lost", "silly", "nometrics"):
        cluster = wait_ready(control_plane, namespace, name, timeout=TIMEOUT)
        assert len(members(cluster)) == 2, name
        replicas = control_plane.kubectl(
            "get",
            "statefulsets",
            "-n",
            namespace,
            "-l",
            f"kubedirector.hpe.com/kdcluster={name}",
            "-o",
            "jsonpath={.items[*].spec.replicas}",
        ).stdout.split()
        assert replicas == ["2"], (name, replicas)
    lost_warnings = [
        e
        for e in warning_events(control_plane, namespace, "lost")
        if e["reason"] == "AutoscaleMetricsUnavailable"
    ]
    assert len(lost_warnings) == 1, lost_warnings
    assert "127.0.0.1:9" in lost_warnings[0]["message"]
    assert any(
        PLUGIN_NAME in e["message"] for e in warning_events(control_plane, namespace, "silly")
    )


def test_an_operator_killed_in_a_scale_step_converges_configuring_each_member_once(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    prometheus: Prometheus,
    watched: Callable[[str], History],
    tmp_path: Path,
) -> None:
    prometheus.values["load"] = 2
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    apply(control_plane, namespace, autoscaled("rec", prometheus.url, "load"))
    history = watched("rec")
    history.until("rec Ready with 2 workers", lambda c: _ready_with(c, 2))
    before = [m["pod"] for m in members(history.cluster)]

    prometheus.values["load"] = 4
    history.until("the StatefulSet grew to 4", lambda c: history.replicas[-1:] == [4])
    operator.kill()
    configured = sum(1 for m in members(history.cluster) if m.get("state") == "configured")
    operator.start()
    # (The generation does not change when autoscaling resizes: wait for the count too.)
    history.until("rec Ready with 4 workers", lambda c: _ready_with(c, 4))
    cluster = history.cluster
    assert max(history.replicas) == 4
    pods = [m["pod"] for m in members(cluster)]
    added = [p for p in pods if p not in before]
    for pod in pods:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        assert calls.count("--configure") == 1, (pod, calls)
    for pod in before:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        told = [f.split(".")[0] for c in calls if c.startswith("--addnodes") for f in fqdns_in(c)]
        assert sorted(told) == sorted(added), (pod, calls)
    record = cluster["status"]["autoscale"][0]
    assert record["desiredMembers"] == 4
    print(f"\nkilled with {configured} of 4 members configured; replicas {history.replicas}")
