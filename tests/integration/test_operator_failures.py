"""Bad input shows in status and as a Warning Event; other clusters go on; a fix resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.testing.operator import (
    OperatorProcess,
    apply,
    cluster_ready,
    condition,
    get_cluster,
    make_setup_package,
    named,
    recorder_app,
    recorder_cluster,
    wait_ready,
    wait_until,
    warning_events,
)

pytestmark = pytest.mark.controlplane

HANGING_STARTSCRIPT = """#!/bin/sh
if [ "$1" = "--configure" ]; then sleep 12; fi
exit 0
"""
FAILING_STARTSCRIPT = """#!/bin/sh
echo "cannot configure: no seed reachable" >&2
exit 3
"""


def wait_for_warning(
    control_plane: ControlPlane, namespace: str, name: str, text: str
) -> list[dict[str, Any]]:
    found = wait_until(
        f"a Warning Event on {name} mentioning {text!r}",
        lambda: [
            e
            for e in warning_events(control_plane, namespace, name)
            if text in e["message"] or text == e["reason"]
        ],
    )
    assert isinstance(found, list)
    return found


@pytest.mark.parametrize("operator", [("--action-timeout", "4")], indirect=True)
def test_each_fault_shows_in_status_and_events_others_go_on_and_a_fix_resumes(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    good = make_setup_package(tmp_path / "good.tgz")
    hanging = make_setup_package(tmp_path / "hang.tgz", HANGING_STARTSCRIPT)
    failing = make_setup_package(tmp_path / "fail.tgz", FAILING_STARTSCRIPT)
    missing = (tmp_path / "nowhere.tgz").as_uri()
    base_app = recorder_app(good)
    base_cluster = recorder_cluster(1)

    # Five broken clusters and one healthy one, in one namespace.
    apply(control_plane, namespace, named(base_cluster, "no-app", app="absent-app"))
    unknown_role = named(base_cluster, "bad-role")
    unknown_role["spec"]["roles"][0]["id"] = "nosuchrole"
    apply(control_plane, namespace, unknown_role)
    for app_name, url in (("fetchfail", missing), ("exitfail", failing), ("hangs", hanging)):
        app = named(base_app, app_name)
        app["spec"]["defaultConfigPackage"]["packageURL"] = url
        apply(control_plane, namespace, app)
        apply(control_plane, namespace, named(base_cluster, app_name, app=app_name))
    apply(control_plane, namespace, base_app)
    apply(
        control_plane,
        namespace,
        named(base_cluster, "lonely", connections={"clusters": ["not-there"]}),
    )
    apply(control_plane, namespace, named(base_cluster, "healthy"))

    wait_ready(control_plane, namespace, "healthy")

    def shows(name: str, kind: str, reason: str) -> bool:
        return condition(get_cluster(control_plane, namespace, name), kind).get("reason") == reason

    wait_until("no-app: AppMissing", lambda: shows("no-app", "Valid", "AppMissing"))
    wait_until("bad-role: InvalidSpec", lambda: shows("bad-role", "Valid", "InvalidSpec"))
    assert (
        "nosuchrole"
        in condition(get_cluster(control_plane, namespace, "bad-role"), "Valid")["message"]
    )
    for name in ("fetchfail", "exitfail", "hangs"):
        wait_until(f"{name}: ConfigError", lambda n=name: shows(n, "Degraded", "ConfigError"))
    wait_until(
        "lonely: ConnectionMissing", lambda: shows("lonely", "Degraded", "ConnectionMissing")
    )

    assert wait_for_warning(control_plane, namespace, "no-app", "absent-app")
    assert wait_for_warning(control_plane, namespace, "bad-role", "nosuchrole")
    assert wait_for_warning(control_plane, namespace, "fetchfail", "SetupFailed")
    assert wait_for_warning(control_plane, namespace, "exitfail", "SetupFailed")
    assert wait_for_warning(control_plane, namespace, "hangs", "ActionTimedOut")
    assert wait_for_warning(control_plane, namespace, "lonely", "not-there")
    member = get_cluster(control_plane, namespace, "exitfail")["status"]["roles"][0]["members"][0]
    assert member["state"] == "config error"
    assert "no seed reachable" in json.dumps(member)

    # Fix every cause: the clusters go on without manual cleanup.
    apply(control_plane, namespace, named(base_app, "absent-app"))
    fixed_role = named(base_cluster, "bad-role")
    apply(control_plane, namespace, fixed_role)
    for app_name in ("fetchfail", "exitfail", "hangs"):
        apply(control_plane, namespace, named(base_app, app_name))
    apply(control_plane, namespace, named(base_cluster, "not-there"))
    for name in ("no-app", "bad-role", "fetchfail", "exitfail", "hangs", "not-there", "lonely"):
        wait_ready(control_plane, namespace, name, timeout=120)
    assert cluster_ready(get_cluster(control_plane, namespace, "healthy"))
