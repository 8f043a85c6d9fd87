"""The runtime writes nothing when the live object already holds the desired fields."""

from __future__ import annotations

import copy
from typing import Any

from kubedirector_core.plan.model import ObjectRef
from kubedirector_core.runtime.drift import AppliedMemory, contains

REF = ObjectRef("apps/v1", "StatefulSet", "kdss-web", "ns")


def desired() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "kdss-web", "labels": {"kubedirector.hpe.com/kdcluster": "web"}},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [],
                            "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}},
                        }
                    ]
                }
            },
        },
    }


def live_from(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the API server stores: defaults added, quantities normalised, empty lists dropped."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid="u1", resourceVersion="7", generation=1)
    live["spec"]["podManagementPolicy"] = "Parallel"
    container = live["spec"]["template"]["spec"]["containers"][0]
    del container["env"]
    container["resources"]["limits"]["cpu"] = "500m"
    container["terminationMessagePath"] = "/dev/termination-log"
    live["status"] = {"replicas": 3}
    return live


def test_defaults_and_normalised_values_count_as_converged() -> None:
    assert contains(live_from(desired()), desired())
    assert AppliedMemory().is_converged(REF, desired(), live_from(desired()))


def test_a_changed_or_missing_field_is_drift() -> None:
    live = live_from(desired())
    live["spec"]["replicas"] = 1
    assert not AppliedMemory().is_converged(REF, desired(), live)
    live = live_from(desired())
    del live["metadata"]["labels"]
    assert not AppliedMemory().is_converged(REF, desired(), live)
    assert not AppliedMemory().is_converged(REF, desired(), None)


def test_what_the_server_made_of_an_apply_is_remembered_and_drift_from_it_detected() -> None:
    manifest = desired()
    manifest["metadata"]["annotations"] = {"odd": "x"}
    returned = live_from(manifest)
    returned["metadata"]["annotations"]["odd"] = "rewritten-by-a-webhook"
    memory = AppliedMemory()
    assert not memory.is_converged(REF, manifest, returned)  # contains() alone cannot tell
    memory.record(REF, manifest, returned)
    assert memory.is_converged(REF, manifest, returned)
    drifted = copy.deepcopy(returned)
    drifted["spec"]["replicas"] = 5
    assert not memory.is_converged(REF, manifest, drifted)
    changed = copy.deepcopy(manifest)
    changed["spec"]["replicas"] = 4
    assert not memory.is_converged(REF, changed, returned)


def test_an_object_being_deleted_is_never_converged() -> None:
    live = live_from(desired())
    live["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not AppliedMemory().is_converged(REF, desired(), live)
