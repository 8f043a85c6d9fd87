"""The caches keep the content of connected ConfigMaps only, and never a Secret's data.

A real operator object (never started) gets watch events through its own
handlers; what a reconcile would see is its snapshot.
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
from kubedirector_core.runtime.operator import Operator, OperatorOptions
from kubedirector_core.runtime.reconciler import Outcome
from kubedirector_core.runtime.workqueue import WorkQueue

NS = "team"
KEY: ClusterKey = (NS, "nb")
TOKEN = "cGFzc3dvcmQtOTkx"


def _cluster(version: str, *configmaps: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": {"namespace": NS, "name": "nb", "uid": "uid-nb", "resourceVersion": version},
        "spec": {
            "app": "demo",
            "roles": [{"id": "worker", "members": 1}],
            "connections": {"configmaps": list(configmaps), "secrets": ["git-token"]},
        },
    }


def _configmap(name: str, version: str, branch: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "namespace": NS,
            "name": name,
            "resourceVersion": version,
            "labels": {"kubedirector.hpe.com/cmType": "source-control"},
            "managedFields": [{"manager": "kubectl"}],
        },
        "data": {"branch": branch},
    }


def _secret(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"namespace": NS, "name": "git-token", "resourceVersion": version},
        "data": {"token": TOKEN},
    }


@contextmanager
def _operator() -> Iterator[Operator]:
    api = KubeApi(client.ApiClient(client.Configuration()))
    operator = Operator(OperatorOptions(namespaces=(NS,)), api, load_hooks())
    operator.queue = WorkQueue[ClusterKey]()
    try:
        yield operator
    finally:
        operator.reconciler.close()
        api.api_client.close()  # type: ignore[no-untyped-call]


def _deliver(operator: Operator, event: str | None, *bodies: dict[str, Any]) -> None:
    handlers = {watch.kind: watch.handler for watch in operator.watched()}
    for body in bodies:
        handlers[body["kind"]](event, copy.deepcopy(body))


def test_only_connected_configmaps_keep_their_content_in_the_snapshot() -> None:
    async def scenario() -> None:
        with _operator() as operator:
            _deliver(operator, "ADDED", _cluster("1", "git-repo"))
            _deliver(operator, "ADDED", _configmap("git-repo", "2", "main"))
            _deliver(operator, "ADDED", _configmap("unrelated", "3", "dev"))
            assert set(operator.caches.configmap_content) == {(NS, "git-repo")}
            kept = operator.caches.snapshot(KEY).connected_configmaps["git-repo"]
            assert kept["data"] == {"branch": "main"}
            assert "managedFields" not in kept["metadata"]

            _deliver(operator, "MODIFIED", _configmap("git-repo", "4", "release"))
            snapshot = operator.caches.snapshot(KEY)
            assert snapshot.connected_configmaps["git-repo"]["data"] == {"branch": "release"}
            assert snapshot.connected_config_versions["ConfigMap/git-repo"] == "4"

            # The cluster stops connecting it: the content goes; then the cluster goes.
            _deliver(operator, "MODIFIED", _cluster("5", "unrelated"))
            assert operator.caches.configmap_content == {}
            _deliver(operator, "MODIFIED", _configmap("unrelated", "6", "dev2"))
            assert set(operator.caches.configmap_content) == {(NS, "unrelated")}
            _deliver(operator, "DELETED", _cluster("7", "unrelated"))
            assert operator.caches.configmap_content == {}

    asyncio.run(scenario())


def test_a_configmap_read_by_a_reconcile_is_kept_unless_the_watch_saw_a_newer_one() -> None:
    async def scenario() -> None:
        with _operator() as operator:
            queue = operator.queue
            assert queue is not None
            # Seen before any cluster connected it: only its version is known.
            _deliver(operator, "ADDED", _configmap("git-repo", "2", "main"))
            _deliver(operator, "ADDED", _cluster("3", "git-repo"))
            assert operator.caches.snapshot(KEY).connected_configmaps == {}
            operator._absorb(
                queue, KEY, Outcome(read_configmaps=[_configmap("git-repo", "2", "main")])
            )
            assert operator.caches.snapshot(KEY).connected_configmaps["git-repo"]["data"] == {
                "branch": "main"
            }
            _deliver(operator, "MODIFIED", _configmap("git-repo", "8", "release"))
            operator._absorb(
                queue, KEY, Outcome(read_configmaps=[_configmap("git-repo", "2", "main")])
            )
            assert operator.caches.snapshot(KEY).connected_configmaps["git-repo"]["data"] == {
                "branch": "release"
            }

    asyncio.run(scenario())


def test_a_secret_event_marks_its_clusters_but_leaves_no_data_in_the_caches() -> None:
    async def scenario() -> None:
        with _operator() as operator:
            queue = operator.queue
            assert queue is not None
            _deliver(operator, "ADDED", _cluster("1", "git-repo"))
            while len(queue):
                queue.forget(KEY)
            _deliver(operator, "ADDED", _secret("2"))
            assert len(queue) == 1, "the connected cluster was not queued"
            assert operator.caches.snapshot(KEY).connected_config_versions == {
                "Secret/git-token": "2"
            }
            assert TOKEN not in repr(operator.caches)
            assert TOKEN not in repr(operator.caches.snapshot(KEY))

    asyncio.run(scenario())


def test_a_configmap_deleted_while_a_reconcile_read_it_does_not_come_back() -> None:
    async def scenario() -> None:
        with _operator() as operator:
            queue = operator.queue
            assert queue is not None
            _deliver(operator, "ADDED", _configmap("git-repo", "2", "main"))
            _deliver(operator, "ADDED", _cluster("3", "git-repo"))
            read = _configmap("git-repo", "2", "main")  # what a reconcile read, meanwhile:
            _deliver(operator, "DELETED", _configmap("git-repo", "4", "main"))
            operator._absorb(queue, KEY, Outcome(read_configmaps=[read]))
            assert operator.caches.snapshot(KEY).connected_configmaps == {}

    asyncio.run(scenario())
