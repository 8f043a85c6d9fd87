"""JSON log lines: one object per line, and the cluster on every line of its reconcile."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from kubedirector_core import KubeDirectorApp, KubeDirectorCluster, PluginSettings
from kubedirector_core.runtime.logs import (
    ClusterContextFilter,
    JsonFormatter,
    TextFormatter,
    cluster_context,
)
from kubedirector_core.testing.plugin_fixtures import isolated_hooks

from .apps import DEMO_APP
from .test_telemetry import CLUSTER


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


def _attach(formatter: logging.Formatter) -> Iterator[Captured]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ClusterContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("kdtest")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield Captured(stream)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


@pytest.fixture
def captured() -> Iterator[Captured]:
    yield from _attach(JsonFormatter())


def test_each_line_is_one_json_object_with_the_cluster_when_in_its_context(
    captured: Captured,
) -> None:
    log = logging.getLogger("kdtest.reconciler")
    log.info("before")
    with cluster_context("team-a", "hadoop-1"):
        log.info("applying %d objects\nsecond line", 3)
    log.info("after")
    lines = captured.lines()
    assert [line["message"] for line in lines] == [
        "before",
        "applying 3 objects\nsecond line",
        "after",
    ]
    assert lines[1]["namespace"] == "team-a"
    assert lines[1]["cluster"] == "hadoop-1"
    assert lines[1]["level"] == "INFO"
    assert lines[1]["logger"] == "kdtest.reconciler"
    assert lines[1]["time"].endswith("+00:00")
    assert "cluster" not in lines[0]
    assert "cluster" not in lines[2]


def test_threads_started_in_a_copied_context_carry_the_cluster(captured: Captured) -> None:
    def action() -> None:
        logging.getLogger("kdtest.action").info("running configure")

    with cluster_context("ns", "c1"):
        worker = threading.Thread(target=contextvars.copy_context().run, args=(action,))
        worker.start()
        worker.join()
    assert captured.lines()[0] | {"time": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "kdtest.action",
        "message": "running configure",
        "namespace": "ns",
        "cluster": "c1",
    }


def test_a_plugin_hook_run_under_a_time_limit_logs_with_the_cluster(captured: Captured) -> None:
    def kd_configmeta() -> None:
        assert threading.current_thread().name.startswith("kd-hook:")
        logging.getLogger("kdtest.plugin").info("computing configmeta")

    plugin = types.SimpleNamespace(kd_configmeta=kd_configmeta, kd_claims=lambda: ["example/*"])
    hooks = isolated_hooks(
        ("chatty", plugin), settings=PluginSettings(autoload=False, hook_timeout=30.0)
    )
    with cluster_context("ns", "c1"):
        hooks.configmeta(
            KubeDirectorApp.from_wire(DEMO_APP), KubeDirectorCluster.from_wire(CLUSTER)
        )
    (line,) = captured.lines()
    assert (line["message"], line["namespace"], line["cluster"]) == (
        "computing configmeta",
        "ns",
        "c1",
    )


def test_kopf_object_lines_name_the_object_and_exceptions_keep_their_traceback(
    captured: Captured,
) -> None:
    log = logging.getLogger("kdtest.kopf")
    ref = {"namespace": "ns", "name": "rec-worker-0", "kind": "Pod"}
    log.warning("handler failed", extra={"k8s_ref": ref})
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("reconcile failed")
    first, second = captured.lines()
    assert (first["namespace"], first["object"]) == ("ns", "Pod/rec-worker-0")
    assert "cluster" not in first
    assert "KeyError: 'missing'" in second["exception"]


def test_text_lines_put_the_cluster_before_the_message() -> None:
    captured = _attach(TextFormatter())
    sink = next(captured)
    with cluster_context("ns", "c1"):
        logging.getLogger("kdtest").info("hello")
    logging.getLogger("kdtest").info("plain")
    next(captured, None)
    first, second = sink.stream.getvalue().splitlines()
    assert first.endswith("INFO    kdtest: [ns/c1] hello")
    assert second.endswith("INFO    kdtest: plain")
