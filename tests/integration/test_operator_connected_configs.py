"""A cluster's connected ConfigMap and Secret reach its members' configmeta.json.

As the original KubeDirector writes them under ``connections``: ConfigMaps
grouped by their ``kubedirector.hpe.com/cmType`` label with plain values,
Secrets by ``kubedirector.hpe.com/secretType`` with every value base64. The
file is read from the member's directory on the dev control plane; editing
the ConfigMap rewrites it and runs the startscript's ``--reconnect``.
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    get_cluster,
    make_setup_package,
    members,
    named,
    recorded_calls,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.controlplane

TOKEN = "kd-test-t0ken-4d1f"
CONFIGMETA = "etc/guestconfig/configmeta.json"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _source_control(branch: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "git-repo",
            "labels": {"kubedirector.hpe.com/cmType": "source-control"},
            "annotations": {"team": "data"},
        },
        "data": {"repositoryURL": "https://git.example.com/data/notebooks.git", "branch": branch},
    }


def _token() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "git-token",
            "labels": {"kubedirector.hpe.com/secretType": "source-control"},
        },
        "stringData": {"token": TOKEN},
    }


def _configmeta(pod_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((pod_dir / CONFIGMETA).read_text())
    return document


def test_connected_configmap_and_secret_reach_configmeta_and_a_change_reconnects(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    apply(control_plane, namespace, recorder_app(make_setup_package(tmp_path / "setup.tgz")))
    # Created before any cluster connects them: the operator has not kept their content.
    apply(control_plane, namespace, _source_control("main"))
    apply(control_plane, namespace, _token())
    connections = {"configmaps": ["git-repo"], "secrets": ["git-token"]}
    apply(control_plane, namespace, named(recorder_cluster(2), "rec", connections=connections))
    cluster = wait_ready(control_plane, namespace)
    pod_dirs = [control_plane.pod_dir(namespace, m["pod"]) for m in members(cluster)]

    for pod_dir in pod_dirs:
        meta = _configmeta(pod_dir)
        assert meta["connections"]["configmaps"] == {
            "source-control": [
                {
                    "metadata": {"name": "git-repo"},
                    "data": {
                        "repositoryURL": "https://git.example.com/data/notebooks.git",
                        "branch": "main",
                    },
                    "labels": {"kubedirector.hpe.com/cmType": "source-control"},
                    "annotations": {"team": "data"},
                }
            ]
        }
        assert meta["connections"]["secrets"] == {
            "source-control": [
                {
                    "metadata": {"name": _b64("git-token")},
                    "data": {"token": _b64(TOKEN)},
                    "labels": {"kubedirector.hpe.com/secretType": _b64("source-control")},
                    "annotations": {},
                }
            ]
        }
        # It holds Secret data: only its owner (the user setup runs as) may read it.
        assert stat.S_IMODE((pod_dir / CONFIGMETA).stat().st_mode) == 0o600
        assert recorded_calls(pod_dir) == ["--configure"]

    control_plane.kubectl(
        "patch",
        "configmap",
        "git-repo",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"data": {"branch": "release-2"}}),
    )

    def reconnected() -> bool:
        return all(
            _configmeta(d)["connections"]["configmaps"]["source-control"][0]["data"]["branch"]
            == "release-2"
            and recorded_calls(d) == ["--configure", "--reconnect"]
            for d in pod_dirs
        )

    wait_until("every member reconnected with the new branch", reconnected, timeout=120)
    assert _configmeta(pod_dirs[0])["connections"]["secrets"]["source-control"][0]["data"] == {
        "token": _b64(TOKEN)
    }

    # Measured, not asserted: each read is one GET per connected Secret.
    print(f"\nSecret reads: {operator.log().count('connected Secret(s) in')}")
    status = json.dumps(get_cluster(control_plane, namespace, "rec").get("status"))
    events = control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    for text, where in ((status, "status"), (events, "Events"), (operator.log(), "operator log")):
        assert TOKEN not in text, f"the Secret's value is in the {where}"
        assert _b64(TOKEN) not in text, f"the Secret's base64 value is in the {where}"
