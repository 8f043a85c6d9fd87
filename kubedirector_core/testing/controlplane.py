"""pytest fixtures for tests that run against the real local control plane.

* ``control_plane`` (session): brings the control plane up once for the whole
  session (building it first if needed) and stops every process it started
  when the session ends. Set ``KD_CONTROL_PLANE=<state dir>`` to reuse one
  started with ``kubedirector dev up`` instead; it is then left running.
* ``namespace`` (function): a fresh namespace per test, ready for pods (its
  default service account exists), deleted afterwards.

Mark such tests with ``@pytest.mark.controlplane``.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane, UpOptions
from kubedirector_core.errors import DevClusterError

__all__ = ["control_plane", "namespace", "pytest_configure"]

REUSE_ENV = "KD_CONTROL_PLANE"
#: The session control plane's node-monitor grace: a node whose heartbeat stopped
#: (``ControlPlane.stop_heartbeat``) turns Unknown after about this long, not 40 s.
NODE_MONITOR_GRACE_SECONDS = 12


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``controlplane`` marker."""
    config.addinivalue_line(
        "markers", "controlplane: needs the real local Kubernetes control plane"
    )


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """The local control plane: 3 CPU nodes and 2 GPU nodes with 1 GPU each.

    Its node-monitor grace is :data:`NODE_MONITOR_GRACE_SECONDS`.
    """
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        plane = ControlPlane(Path(reuse))
        if not plane.is_running():
            raise DevClusterError(
                f"{REUSE_ENV}={reuse} names no running control plane; start one with "
                f"`kubedirector dev up` or unset {REUSE_ENV}"
            )
        yield plane
        return
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    try:
        plane.up(
            UpOptions(
                nodes=3,
                gpu_nodes=2,
                gpus_per_node=1,
                die_with_parent=True,
                node_monitor_grace_seconds=NODE_MONITOR_GRACE_SECONDS,
            )
        )
        yield plane
    finally:
        plane.down()


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"{slug or 'test'}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting)."""
    name = _namespace_name(request.node.name)
    control_plane.kubectl("create", "namespace", name)
    deadline = time.monotonic() + 30
    while control_plane.kubectl(
        "get", "serviceaccount", "default", "-n", name, check=False
    ).returncode:
        if time.monotonic() > deadline:
            raise DevClusterError(f"namespace {name} got no default service account within 30s")
        time.sleep(0.2)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
