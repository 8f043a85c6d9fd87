"""A member added costs few status writes: a reconcile takes up its own actions' outcomes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    fqdns_in,
    get_cluster,
    make_setup_package,
    members,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane


@pytest.fixture
def recorder(
    control_plane: ControlPlane, kubedirector_crds: None, namespace: str, tmp_path: Path
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))


class StatusHistory:
    """Every stored status of one cluster after its spec's ``generation`` reached ``since``.

    Fed by a watch on the API server that starts at ``resource_version``: each
    status the server stored is seen, even one replaced a moment later.
    """

    def __init__(self, api: client.ApiClient, cluster: dict[str, Any], since: int) -> None:
        #: The status before, then each one stored since.
        self.statuses: list[dict[str, Any]] = [cluster.get("status") or {}]
        self._objects = client.CustomObjectsApi(api)
        metadata = cluster["metadata"]
        self._namespace, self._name, self._since = metadata["namespace"], metadata["name"], since
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def follow(self, resource_version: str) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                self._objects.list_namespaced_custom_object,
                "kubedirector.hpe.com",
                "v1beta1",
                self._namespace,
                "kubedirectorclusters",
                field_selector=f"metadata.name={self._name}",
                resource_version=resource_version,
                timeout_seconds=2,
            )
            for event in stream:
                body = event["object"]
                resource_version = body["metadata"]["resourceVersion"]
                if body["metadata"].get("generation", 0) < self._since:
                    continue
                status = body.get("status") or {}
                with self._lock:
                    if self.statuses[-1] != status:
                        self.statuses.append(status)

    def seen(self, status: dict[str, Any]) -> bool:
        with self._lock:
            return self.statuses[-1] == status

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def status_history(
    control_plane: ControlPlane, cluster: dict[str, Any], since: int
) -> Iterator[StatusHistory]:
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))  # type: ignore[no-untyped-call]
    history = StatusHistory(api, cluster, since)
    thread = threading.Thread(
        target=history.follow, args=(cluster["metadata"]["resourceVersion"],), daemon=True
    )
    thread.start()
    try:
        yield history
    finally:
        history.stop()
        thread.join(timeout=30)
        api.close()


def member(status: dict[str, Any], pod: str) -> dict[str, Any]:
    found = [
        m for r in status.get("roles") or [] for m in r.get("members") or [] if m["pod"] == pod
    ]
    return found[0] if found else {}


def events(control_plane: ControlPlane, namespace: str, reason: str) -> list[str]:
    found = json.loads(
        control_plane.kubectl(
            "get", "events", "-n", namespace, "--field-selector", f"reason={reason}", "-o", "json"
        ).stdout
    )["items"]
    return [str(event["message"]) for event in found]


def test_a_member_added_is_configured_and_announced_in_one_status_write_after_its_setup(
    control_plane: ControlPlane, namespace: str, recorder: None, operator: OperatorProcess
) -> None:
    apply(control_plane, namespace, recorder_cluster(2))
    cluster = wait_ready(control_plane, namespace)
    first = [m["pod"] for m in members(cluster)]
    generation = int(cluster["metadata"]["generation"]) + 1

    with status_history(control_plane, cluster, generation) as history:
        apply(control_plane, namespace, recorder_cluster(3))
        cluster = wait_ready(control_plane, namespace)
        wait_until(
            "the watch saw the final status",
            lambda: history.seen(get_cluster(control_plane, namespace, "rec")["status"]),
            timeout=120,
        )
    # One write takes the new member in (another may say its pod is being created);
    # the write that records its setup also holds what follows from it: the member
    # configured, the others told with --addnodes, the cluster Ready again. (Those
    # were three writes, one per reconcile, each one's watch event starting the next.)
    added = [m["pod"] for m in members(cluster) if m["pod"] not in first]
    assert len(added) == 1
    writes = history.statuses[1:]
    steps = [(s.get("state"), s.get("membersReady")) for s in writes]
    set_up = [i for i, s in enumerate(writes) if "setupResult" in member(s, added[0])]
    assert set_up == [len(writes) - 1], steps
    assert len(writes) <= 3, steps
    assert writes[-1] == cluster["status"]

    status = cluster["status"]
    assert status["state"] == "configured"
    assert status["membersReady"] == "3/3"
    assert all(m["state"] == "configured" for m in members(cluster))
    assert recorded_calls(control_plane.pod_dir(namespace, added[0])) == ["--configure"]
    for pod in first:
        calls = recorded_calls(control_plane.pod_dir(namespace, pod))
        notified = [f for call in calls if call.startswith("--addnodes") for f in fqdns_in(call)]
        assert [f.split(".")[0] for f in notified] == added, calls
    # Events are posted once each, after the write that made them true.
    announced = f"member {added[0]} is configured"
    wait_until(
        "the MemberConfigured Event",
        lambda: announced in events(control_plane, namespace, "MemberConfigured"),
        timeout=120,
    )
    assert events(control_plane, namespace, "MemberConfigured").count(announced) == 1
