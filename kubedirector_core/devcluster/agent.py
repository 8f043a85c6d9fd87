"""Give every pod on a fake node a directory of its own for exec'd commands.

KWOK runs a command exec'd into a pod as a local process. Without care every
pod would share the test machine's filesystem. This agent watches pods and, for
each pod scheduled to a node, creates ``<pods-dir>/<namespace>/<name>/`` and a
KWOK ``Exec`` rule named like the pod, so that the pod's commands run in that
directory with ``KD_GUEST_ROOT`` pointing at it. In-container code resolves
every absolute path under ``KD_GUEST_ROOT`` (unset in a real container, where
it means ``/``), so what each pod receives stays in its own directory.

A pod that is deleted and recreated under the same name (a StatefulSet member)
starts with a fresh directory, as a new container starts with a fresh root
filesystem; the old one is kept under ``<namespace>/.gone/`` for inspection.

Run as ``python -m kubedirector_core.devcluster.agent --kubeconfig K --pods-dir D``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

GUEST_ROOT_ENV = "KD_GUEST_ROOT"
FIELD_MANAGER = "kd-devcluster-agent"
log = logging.getLogger("kd-devcluster-agent")


class PodDirectories:
    """The on-disk side: one directory per live pod, keyed by the pod's UID."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, namespace: str, name: str) -> Path:
        """Where the pod's exec'd commands run."""
        return self.root / namespace / name

    def _uid_file(self, namespace: str, name: str) -> Path:
        return self.root / namespace / f".{name}.uid"

    def ensure(self, namespace: str, name: str, uid: str) -> Path:
        """Create the pod's directory; archive one left by an earlier pod of that name."""
        directory = self.directory(namespace, name)
        uid_file = self._uid_file(namespace, name)
        previous = uid_file.read_text().strip() if uid_file.exists() else None
        if previous and previous != uid:
            self.archive(namespace, name, previous)
        directory.mkdir(parents=True, exist_ok=True)
        uid_file.write_text(uid)
        return directory

    def archive(self, namespace: str, name: str, uid: str) -> None:
        """Move a gone pod's directory aside (``<namespace>/.gone/<name>.<uid>``)."""
        directory = self.directory(namespace, name)
        uid_file = self._uid_file(namespace, name)
        current = uid_file.read_text().strip() if uid_file.exists() else None
        if current != uid:
            return
        if directory.exists():
            target = self.root / namespace / ".gone" / f"{name}.{uid}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            directory.rename(target)
        uid_file.unlink(missing_ok=True)


def exec_rule(pod: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The KWOK ``Exec`` object that runs the pod's commands in ``directory``."""
    meta = pod["metadata"]
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Exec",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": {
            "execs": [
                {
                    "local": {
                        "workDir": str(directory),
                        "envs": [
                            {"name": GUEST_ROOT_ENV, "value": str(directory)},
                            {"name": "KD_POD_NAME", "value": meta["name"]},
                            {"name": "KD_POD_NAMESPACE", "value": meta["namespace"]},
                        ],
                    }
                }
            ]
        },
    }


class Agent:
    """Keeps pod directories and Exec rules in step with the pods."""

    def __init__(self, api: client.ApiClient, directories: PodDirectories) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.directories = directories
        # UIDs of the pods whose directory and Exec rule are in place: a pod's
        # status changes many times, the rule needs writing once per pod.
        self._prepared: set[str] = set()

    def pod_seen(self, pod: dict[str, Any]) -> None:
        """Prepare a scheduled pod's directory and Exec rule (idempotent)."""
        meta = pod["metadata"]
        if not pod.get("spec", {}).get("nodeName") or meta.get("deletionTimestamp"):
            return
        if meta["uid"] in self._prepared:
            return
        directory = self.directories.ensure(meta["namespace"], meta["name"], meta["uid"])
        self.custom.patch_namespaced_custom_object(
            "kwok.x-k8s.io",
            "v1alpha1",
            meta["namespace"],
            "execs",
            meta["name"],
            exec_rule(pod, directory),
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
        self._prepared.add(meta["uid"])

    def pod_gone(self, pod: dict[str, Any]) -> None:
        """Archive a deleted pod's directory."""
        meta = pod["metadata"]
        self._prepared.discard(meta["uid"])
        self.directories.archive(meta["namespace"], meta["name"], meta["uid"])

    def run(self) -> None:
        """List, then watch pods forever, re-listing after any watch failure."""
        while True:
            try:
                self._list_and_watch()
            except (ApiException, OSError, ValueError) as error:
                log.warning("watch interrupted (%s); re-listing", error)
                time.sleep(1)

    def _list_and_watch(self) -> None:
        listing = self.core.api_client.sanitize_for_serialization(
            self.core.list_pod_for_all_namespaces()
        )
        for pod in listing.get("items", []):
            self.pod_seen(pod)
        version = listing["metadata"]["resourceVersion"]
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            self.core.list_pod_for_all_namespaces,
            resource_version=version,
            timeout_seconds=60,
            _request_timeout=90,
        )
        for event in stream:
            pod = self.core.api_client.sanitize_for_serialization(event["object"])
            if event["type"] == "DELETED":
                self.pod_gone(pod)
            elif event["type"] in ("ADDED", "MODIFIED"):
                self.pod_seen(pod)


def main() -> None:
    """Entry point: ``python -m kubedirector_core.devcluster.agent``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--pods-dir", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    Agent(api, PodDirectories(args.pods_dir)).run()


if __name__ == "__main__":
    main()
