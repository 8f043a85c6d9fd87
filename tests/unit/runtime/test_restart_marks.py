"""A restart among converged clusters reconciles each once: events of cached versions mark nothing.

The operator primes its caches from one LIST and marks every cluster; kopf then
delivers its own initial listing of the same objects. Those events must not
queue the cluster again; a real change must, and so must the watch echo of the
operator's own write (whose response ``_absorb`` cached already).
kopf must keep no diff base or progress (two deep copies of every event's body).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client

from kubedirector_core.plugins import load_hooks
from kubedirector_core.runtime.cache import ClusterKey
from kubedirector_core.runtime.kubeapi import KubeApi
from kubedirector_core.runtime.objects import CLUSTER_LABEL, ROLE_LABEL
from kubedirector_core.runtime.operator import (
    NoDiffBase,
    NoProgress,
    Operator,
    OperatorOptions,
    operator_settings,
)
from kubedirector_core.runtime.reconciler import Outcome
from kubedirector_core.runtime.workqueue import WorkQueue

from .apps import DEMO_APP

NS = "team"
KEY: ClusterKey = (NS, "c1")


def _meta(name: str, version: str, **labels: str) -> dict[str, Any]:
    return {
        "namespace": NS,
        "name": name,
        "uid": f"uid-{name}",
        "resourceVersion": version,
        "labels": labels,
    }


def _cluster(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": _meta("c1", version),
        "spec": {"app": "demo", "roles": [{"id": "worker", "members": 1}]},
    }


def _statefulset(version: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta("kdss-c1-worker", version, **{CLUSTER_LABEL: "c1"}),
        "spec": {"replicas": replicas},
    }


def _pod(version: str, *, ready: bool, note: str = "") -> dict[str, Any]:
    metadata = _meta("kdss-c1-worker-0", version, **{CLUSTER_LABEL: "c1", ROLE_LABEL: "worker"})
    metadata["annotations"] = {"note": note}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "containerID": "c://1"}],
        },
    }


def _app(version: str) -> dict[str, Any]:
    app = copy.deepcopy(DEMO_APP)
    app["metadata"] = {"namespace": NS, "name": "demo", "resourceVersion": version}
    return app


@contextmanager
def _operator() -> Iterator[Operator]:
    """A real operator object, never started: its handlers, caches and queue only."""
    api = KubeApi(client.ApiClient(client.Configuration()))
    operator = Operator(OperatorOptions(namespaces=(NS,)), api, load_hooks())
    try:
        yield operator
    finally:
        operator.reconciler.close()
        api.api_client.close()  # type: ignore[no-untyped-call]


def _deliver(operator: Operator, event: str | None, *bodies: dict[str, Any]) -> None:
    handlers = {watch.kind: watch.handler for watch in operator.watched()}
    for body in bodies:
        handlers[body["kind"]](event, copy.deepcopy(body))


async def _drain(queue: WorkQueue[ClusterKey]) -> list[ClusterKey]:
    """Take every waiting key, as a worker would, and finish it at once."""
    taken = []
    while len(queue):
        key = await queue.take()
        assert key is not None
        taken.append(key)
        queue.done(key)
    return taken


def test_kopfs_initial_listing_after_priming_queues_no_cluster_again() -> None:
    listing = [_app("5"), _cluster("10"), _statefulset("11"), _pod("12", ready=True)]

    async def scenario() -> tuple[list[ClusterKey], list[ClusterKey], list[ClusterKey]]:
        with _operator() as operator:
            queue = operator.queue = WorkQueue[ClusterKey]()
            _deliver(operator, "LISTED", *listing)  # what prime() does
            primed = await _drain(queue)
            _deliver(operator, None, *listing)  # kopf's own listing of the same versions
            _deliver(operator, "MODIFIED", _pod("13", ready=True, note="no planner input"))
            replayed = await _drain(queue)
            _deliver(operator, "MODIFIED", _pod("14", ready=False))
            changed = await _drain(queue)
            return primed, replayed, changed

    primed, replayed, changed = asyncio.run(scenario())

    assert primed == [KEY]
    assert replayed == []
    assert changed == [KEY]


def test_a_new_version_of_a_child_cluster_or_app_queues_the_cluster() -> None:
    listing = [_app("5"), _cluster("10"), _statefulset("11"), _pod("12", ready=True)]
    updates = [_statefulset("20", replicas=2), _cluster("21"), _app("22")]

    async def scenario() -> list[list[ClusterKey]]:
        with _operator() as operator:
            queue = operator.queue = WorkQueue[ClusterKey]()
            _deliver(operator, "LISTED", *listing)
            await _drain(queue)
            rounds = []
            for update in updates:
                _deliver(operator, "MODIFIED", update)
                rounds.append(await _drain(queue))
            _deliver(operator, "DELETED", _statefulset("23", replicas=2))
            rounds.append(await _drain(queue))
            return rounds

    assert asyncio.run(scenario()) == [[KEY], [KEY], [KEY], [KEY]]


def test_the_echo_of_the_operators_own_write_queues_one_more_reconcile() -> None:
    listing = [_app("5"), _cluster("10"), _statefulset("11"), _pod("12", ready=True)]

    async def scenario() -> tuple[list[ClusterKey], list[ClusterKey], list[ClusterKey]]:
        with _operator() as operator:
            queue = operator.queue = WorkQueue[ClusterKey]()
            _deliver(operator, "LISTED", *listing)
            await _drain(queue)
            written = _statefulset("30", replicas=3)
            operator._absorb(queue, KEY, Outcome(written=[copy.deepcopy(written)]))
            after_write = await _drain(queue)
            _deliver(operator, "MODIFIED", written)  # the watch echo of that write
            after_echo = await _drain(queue)
            _deliver(operator, None, written)  # the same version listed again
            relisted = await _drain(queue)
            return after_write, after_echo, relisted

    after_write, after_echo, relisted = asyncio.run(scenario())

    assert after_write == []
    assert after_echo == [KEY]
    assert relisted == []


def test_kopf_keeps_no_diff_base_or_progress_and_copies_no_body() -> None:
    settings = operator_settings(OperatorOptions())
    diffbase = settings.persistence.diffbase_storage
    progress = settings.persistence.progress_storage

    assert isinstance(diffbase, NoDiffBase)
    assert isinstance(progress, NoProgress)
    essence = {"spec": {"replicas": 3}}
    assert progress.clear(essence=essence) is essence  # type: ignore[arg-type]


def test_a_write_no_watch_sees_leaves_nothing_waiting_for_its_echo() -> None:
    # An Event (not watched) and an unlabelled Service (only the cluster's children are
    # watched) never come back as watch events: waiting for them would grow for ever.
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "c1.1", "namespace": NS, "resourceVersion": "40"},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "other", "namespace": NS, "resourceVersion": "41"},
    }

    async def scenario() -> list[ClusterKey]:
        with _operator() as operator:
            queue = operator.queue = WorkQueue[ClusterKey]()
            _deliver(operator, "LISTED", _app("5"), _cluster("10"))
            await _drain(queue)
            operator._absorb(queue, KEY, Outcome(written=[event, service]))
            assert operator._unechoed == {}
            written = _statefulset("42", replicas=3)
            operator._absorb(queue, KEY, Outcome(written=[copy.deepcopy(written)]))
            assert len(operator._unechoed) == 1
            _deliver(operator, "MODIFIED", written)
            assert operator._unechoed == {}
            return await _drain(queue)

    assert asyncio.run(scenario()) == [KEY]


def test_the_operators_status_write_of_a_cluster_queues_the_clusters_connected_to_it() -> None:
    # c2 connects c1: c1's members (in its status) are in c2's configmeta.
    c2 = _cluster("20")
    c2["metadata"] = _meta("c2", "20")
    c2["spec"]["connections"] = {"clusters": ["c1"]}

    async def scenario() -> tuple[list[ClusterKey], list[ClusterKey]]:
        with _operator() as operator:
            queue = operator.queue = WorkQueue[ClusterKey]()
            _deliver(operator, "LISTED", _app("5"), _cluster("10"), c2)
            await _drain(queue)
            written = _cluster("30")
            written["status"] = {"state": "configured"}
            operator._absorb(queue, KEY, Outcome(written=[copy.deepcopy(written)]))
            after_write = await _drain(queue)
            _deliver(operator, "MODIFIED", written)  # its echo
            return after_write, await _drain(queue)

    after_write, after_echo = asyncio.run(scenario())

    assert after_write == [(NS, "c2")]
    assert after_echo == [KEY]


def test_an_echo_that_came_before_the_write_was_absorbed_leaves_nothing_waiting() -> None:
    listing = [_app("5"), _cluster("10"), _statefulset("11"), _pod("12", ready=True)]

    async def scenario() -> tuple[list[ClusterKey], int]:
        with _operator() as operator:
            queue = operator.queue = WorkQueue[ClusterKey]()
            _deliver(operator, "LISTED", *listing)
            await _drain(queue)
            written = _statefulset("30", replicas=3)
            _deliver(operator, "MODIFIED", written)  # the echo, while the reconcile still runs
            operator._absorb(queue, KEY, Outcome(written=[copy.deepcopy(written)]))
            return await _drain(queue), len(operator._unechoed)

    marked, waiting = asyncio.run(scenario())

    assert marked == [KEY]  # once, by the echo itself
    assert waiting == 0  # no wait left for an echo that already came
