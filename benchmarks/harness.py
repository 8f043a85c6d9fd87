"""The benchmark's own control plane, operator and objects.

:class:`Bench` starts a local control plane (:class:`ControlPlane`) that audits
the operator's identity, installs the CRDs, and runs the operator as a
subprocess (:class:`OperatorProcess`, the same one the integration tests use)
with that identity, so every request it makes can be told apart.

The benchmark app has a ``controller`` role (one member) and a ``worker`` role
(any number), with or without a setup package. The baseline applies exactly
the objects ``kubedirector render`` prints for the same cluster
(:func:`kubedirector_core.cli.render.render_file`), with no operator involved.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from benchmarks import machine
from benchmarks.watching import Manifest, Tracker, all_done, none_left, pod_ready, wait
from kubedirector_core.cli.render import render_file
from kubedirector_core.devcluster.cluster import ControlPlane, UpOptions
from kubedirector_core.devcluster.kwok import NodeSpec
from kubedirector_core.plugins import load_hooks
from kubedirector_core.runtime.connection import load_configuration
from kubedirector_core.runtime.kubeapi import APPLY_PATCH, ApiError, KubeApi
from kubedirector_core.runtime.objects import KUBEDIRECTOR_CLUSTER, kind_of
from kubedirector_core.testing.operator import (
    OPERATOR_USER,
    OperatorProcess,
    cluster_ready,
    grant_operator,
    make_setup_package,
)

CHECKOUT = Path(__file__).resolve().parents[1]
CLUSTER_LABEL = "kubedirector.hpe.com/kdcluster"
APP = "benchapp"
SETUP_APP = "benchapp-setup"
#: A startscript that does nothing: scenario 2 measures only the exec round trips.
NOOP_STARTSCRIPT = "#!/bin/sh\nexit 0\n"
_POOL_THREADS = 8
#: The field manager of everything the benchmark applies itself.
FIELD_MANAGER = "kd-bench"


def bench_app(name: str, package_url: str | None = None) -> Manifest:
    """The benchmark app: one controller, any number of workers; a setup package if given."""
    spec: dict[str, Any] = {
        "label": {"name": "Benchmark"},
        "distroID": f"bench/{name}",
        "version": "1.0",
        "configSchemaVersion": 7,
        "defaultImageRepoTag": "example.invalid/bench:1",
        "services": [{"id": "web", "label": {"name": "web"}, "endpoint": {"port": 8080}}],
        "roles": [
            {"id": "controller", "cardinality": "1"},
            {"id": "worker", "cardinality": "0+"},
        ],
        "config": {
            "selectedRoles": ["controller", "worker"],
            "roleServices": [
                {"roleID": "controller", "serviceIDs": ["web"]},
                {"roleID": "worker", "serviceIDs": ["web"]},
            ],
        },
    }
    if package_url:
        spec["defaultConfigPackage"] = {"packageURL": package_url, "useNewSetupLayout": True}
        spec["defaultEventList"] = ["configure", "addnodes", "delnodes"]
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorApp",
        "metadata": {"name": name},
        "spec": spec,
    }


def bench_cluster(
    name: str, workers: int, app: str = APP, extra_spec: dict[str, Any] | None = None
) -> Manifest:
    """A cluster of ``app``: 1 controller and ``workers`` workers, each 10m CPU and 16Mi."""
    resources = {
        "requests": {"cpu": "10m", "memory": "16Mi"},
        "limits": {"cpu": "10m", "memory": "16Mi"},
    }
    roles = [{"id": "controller", "members": 1, "resources": resources}]
    if workers:
        roles.append({"id": "worker", "members": workers, "resources": resources})
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": {"name": name},
        "spec": {"app": app, "roles": roles, **(extra_spec or {})},
    }


def rendered(app: Manifest, clusters: Sequence[Manifest], namespace: str) -> list[Manifest]:
    """What ``kubedirector render`` prints for ``clusters`` of ``app`` in ``namespace``."""
    with tempfile.TemporaryDirectory(prefix="kd-bench-render-") as folder:
        path = Path(folder) / "clusters.yaml"
        path.write_text(yaml.safe_dump_all([app, *clusters]))
        objects, problems = render_file(path, [], [], load_hooks(), namespace)
    if problems:
        raise RuntimeError(
            "kubedirector render refused the benchmark cluster: " + "; ".join(problems)
        )
    return objects


class Bench:
    """A control plane of the benchmark's own, and the operator subprocesses it runs."""

    def __init__(self, work_dir: Path, nodes: int) -> None:
        self.work_dir = work_dir
        self.nodes = nodes
        self.plane = ControlPlane(work_dir / "controlplane")
        self.operator_kubeconfig: Path | None = None
        self._api: KubeApi | None = None
        self._operators = 0

    # -- lifecycle ----------------------------------------------------------------

    def up(self) -> None:
        """Start the control plane (auditing the operator), install CRDs, grant the operator."""
        self.plane.up(
            UpOptions(nodes=self.nodes, die_with_parent=True, audit_users=(OPERATOR_USER,))
        )
        crds = CHECKOUT / "deploy" / "crds"
        self.plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
        self.plane.wait_established(
            "kubedirectorclusters.kubedirector.hpe.com", "kubedirectorapps.kubedirector.hpe.com"
        )
        self.operator_kubeconfig = grant_operator(self.plane)
        self._api = KubeApi(client.ApiClient(load_configuration(self.plane.kubeconfig)))

    def down(self) -> None:
        """Stop every process of the control plane and remove its state."""
        if self._api is not None:
            self._api.api_client.close()  # type: ignore[no-untyped-call]
            self._api = None
        self.plane.down()

    @property
    def api(self) -> KubeApi:
        """A client authenticated as the control plane's admin."""
        assert self._api is not None, "the bench control plane is not up"
        return self._api

    def versions(self) -> dict[str, str]:
        """Versions of every component and of the operator."""
        return machine.versions(self.plane.state().get("versions", {}), CHECKOUT)

    def control_plane_pids(self) -> list[int]:
        """PIDs of etcd, the API server, controllers, scheduler, KWOK and the pod agent."""
        return [record.pid for record in self.plane.processes.records()]

    def add_nodes(self, specs: Sequence[NodeSpec]) -> None:
        """Create fake nodes in one request and wait until they are Ready."""
        if not specs:
            return
        documents = yaml.safe_dump_all([spec.manifest() for spec in specs])
        self.plane.kubectl("create", "-f", "-", input=documents)
        self.plane.wait_nodes_ready([spec.name for spec in specs])

    def namespace(self, name: str) -> str:
        """Create ``name`` (if new) and wait for its default service account."""
        self.plane.kubectl("create", "namespace", name, check=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.api.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")
                return name
            except ApiError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- the operator -------------------------------------------------------------

    def operator(
        self,
        namespaces: Sequence[str],
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> OperatorProcess:
        """An operator process (not started) watching ``namespaces`` with the audited identity."""
        assert self.operator_kubeconfig is not None, "the bench control plane is not up"
        self._operators += 1
        return OperatorProcess(
            self.operator_kubeconfig,
            namespaces,
            self.work_dir / f"operator-{self._operators}.log",
            extra_args=extra_args,
            env=env,
        )

    @contextmanager
    def running(
        self,
        namespaces: Sequence[str],
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> Iterator[OperatorProcess]:
        """An operator running for the ``with`` block, stopped afterwards."""
        process = self.operator(namespaces, extra_args, env)
        process.start()
        try:
            yield process
        finally:
            process.stop()

    # -- objects ------------------------------------------------------------------

    def apply(self, manifest: Manifest, namespace: str) -> Manifest:
        """Server-side apply one object as admin, with the field manager ``kd-bench``."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        result: Manifest = self.api.request(
            "PATCH",
            kind.object_path(manifest["metadata"]["name"], namespace),
            body=manifest,
            content_type=APPLY_PATCH,
            query=(("fieldManager", FIELD_MANAGER), ("force", "true")),
        )
        return result

    def apply_all(self, manifests: Iterable[Manifest], namespace: str) -> None:
        """Server-side apply many objects, from a few client threads at once."""
        with ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="kd-bench-apply") as pool:
            for _ in pool.map(lambda body: self.apply(body, namespace), manifests):
                pass

    def install_app(self, namespace: str, with_setup: bool) -> str:
        """Install the benchmark app (with the no-op setup package or without) in ``namespace``."""
        if with_setup:
            url = make_setup_package(self.work_dir / "noop-setup.tgz", NOOP_STARTSCRIPT)
            self.apply(bench_app(SETUP_APP, url), namespace)
            return SETUP_APP
        self.apply(bench_app(APP), namespace)
        return APP

    def wait_clusters_ready(self, namespace: str, count: int, timeout: float) -> float:
        """Wait until ``count`` clusters in ``namespace`` are Ready; return when (monotonic)."""
        return wait(
            self.api,
            KUBEDIRECTOR_CLUSTER.collection_path(namespace),
            Tracker(cluster_ready),
            all_done(count),
            what=f"{count} clusters Ready in {namespace}",
            timeout=timeout,
        )

    def wait_pods_ready(
        self, namespace: str, count: int, timeout: float, label_selector: str = CLUSTER_LABEL
    ) -> float:
        """Wait until ``count`` pods in ``namespace`` are Ready; return when (monotonic)."""
        return wait(
            self.api,
            f"/api/v1/namespaces/{namespace}/pods",
            Tracker(pod_ready),
            all_done(count),
            what=f"{count} pods Ready in {namespace}",
            timeout=timeout,
            label_selector=label_selector,
        )

    def wait_pods_gone(self, namespace: str, timeout: float) -> None:
        """Wait until no pod is left in ``namespace``."""
        wait(
            self.api,
            f"/api/v1/namespaces/{namespace}/pods",
            Tracker(lambda pod: False),
            none_left,
            what=f"every pod gone from {namespace}",
            timeout=timeout,
        )

    def clear_baseline(self, namespace: str, timeout: float = 600) -> None:
        """Delete the StatefulSets and Services a baseline run applied, and wait for the pods."""
        for collection in (
            f"/apis/apps/v1/namespaces/{namespace}/statefulsets",
            f"/api/v1/namespaces/{namespace}/services",
        ):
            self.api.request("DELETE", collection, query=[("labelSelector", CLUSTER_LABEL)])
        self.wait_pods_gone(namespace, timeout)

    def delete_cluster(self, namespace: str, name: str, timeout: float = 300) -> None:
        """Delete a cluster (the running operator removes its children) and wait for its pods."""
        self.api.request("DELETE", KUBEDIRECTOR_CLUSTER.object_path(name, namespace))
        wait(
            self.api,
            KUBEDIRECTOR_CLUSTER.collection_path(namespace),
            Tracker(lambda body: False),
            lambda tracker: all(key[1] != name for key in tracker.objects),
            what=f"cluster {name} gone",
            timeout=timeout,
        )
        self.wait_pods_gone(namespace, timeout)

    def abandon_clusters(self, namespace: str, timeout: float = 900) -> None:
        """With no operator running: drop every cluster's finalizer, delete all, wait for pods."""
        items = self.api.list(KUBEDIRECTOR_CLUSTER, namespace)

        def release(body: Manifest) -> None:
            self.api.request(
                "PATCH",
                KUBEDIRECTOR_CLUSTER.object_path(body["metadata"]["name"], namespace),
                body={"metadata": {"finalizers": None}},
                content_type="application/merge-patch+json",
            )

        with ThreadPoolExecutor(_POOL_THREADS) as pool:
            for _ in pool.map(release, items):
                pass
        self.api.request("DELETE", KUBEDIRECTOR_CLUSTER.collection_path(namespace))
        self.clear_baseline(namespace, timeout)

    def pods(self, namespace: str, label_selector: str = CLUSTER_LABEL) -> list[Manifest]:
        """The pods in ``namespace`` carrying ``label_selector``."""
        body = self.api.request(
            "GET", f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", label_selector)]
        )
        return list(body.get("items") or [])
