"""The models: wire names, exact round trips, quantities, resolved roles."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kubedirector_core.api import (
    KubeDirectorApp,
    KubeDirectorCluster,
    KubeDirectorConfig,
    parse_quantity,
)

Doc = dict[str, Any]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4Gi", Decimal(4 * 2**30)),
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (3, Decimal(3)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1.5k", Decimal(1500)),
        ("+.5", Decimal("0.5")),
        ("100n", Decimal("1E-7")),
    ],
)
def test_parse_quantity(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["4GB", "", "Gi", "1.2.3", "1e", "1e999", "two"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)


def test_wire_names_and_snake_case_attributes(app_doc: Doc) -> None:
    app = KubeDirectorApp.model_validate(app_doc)
    assert app.spec.distro_id == "example/spark"
    assert app.spec.config_schema_version == 7
    assert app.spec.default_config_package is not None
    assert app.spec.default_config_package.package_url == "file:///opt/setup.tgz"
    assert app.spec.config.role_services[0].service_ids == ["web", "ssh"]


def test_round_trip_keeps_explicit_nulls(app_doc: Doc) -> None:
    app_doc["spec"]["defaultConfigPackage"] = None
    app = KubeDirectorApp.model_validate(app_doc)
    assert app.to_wire() == app_doc
    assert app.to_wire() == app.model_dump(by_alias=True, exclude_unset=True, mode="json")


def test_round_trip_of_a_cluster_with_status(cluster_doc: Doc) -> None:
    cluster_doc["status"] = {
        "state": "configured",
        "observedGeneration": 3,
        "membersReady": "3/3",
        "conditions": [{"type": "Ready", "status": "True"}],
        "notifications": [{"event": "addnodes", "arguments": ["--addnodes"]}],
        "roles": [
            {
                "id": "worker",
                "statefulSet": "kdss-1",
                "members": [
                    {
                        "pod": "w-0",
                        "nodeID": 1,
                        "configured": True,
                        "containerID": "containerd://abc",
                        "setupResult": {"exitStatus": 0, "outputTail": "done"},
                        "stateDetail": {"startScriptStdoutMessage": "ok"},
                    }
                ],
            }
        ],
    }
    cluster = KubeDirectorCluster.model_validate(cluster_doc)
    assert cluster.to_wire() == cluster_doc
    assert cluster.status is not None
    assert cluster.status.roles is not None
    member = cluster.status.roles[0].members
    assert member is not None
    assert member[0].setup_result is not None
    assert member[0].setup_result.exit_status == 0


def test_models_accept_snake_case_in_python(app_doc: Doc) -> None:
    cluster = KubeDirectorCluster(
        api_version="kubedirector.hpe.com/v1beta1",
        kind="KubeDirectorCluster",
        metadata={"name": "c"},  # type: ignore[arg-type]
        spec={"app": "spark", "app_catalog": "local", "roles": []},  # type: ignore[arg-type]
    )
    assert cluster.to_wire()["spec"] == {"app": "spark", "appCatalog": "local", "roles": []}


def test_resolved_role_takes_the_app_defaults(app_doc: Doc) -> None:
    app_doc["spec"]["defaultPersistDirs"] = ["/data"]
    app_doc["spec"]["roles"][1]["configPackage"] = None
    app = KubeDirectorApp.model_validate(app_doc)
    master = app.resolved_role("master")
    worker = app.resolved_role("worker")
    assert master is not None
    assert worker is not None
    assert master.image_repo_tag == "example/spark:1"
    assert master.persist_dirs == ["/data"]
    assert master.config_package == app.spec.default_config_package
    assert worker.config_package is None
    assert app.resolved_role("nope") is None


def test_cardinality_helpers(app_doc: Doc) -> None:
    app = KubeDirectorApp.model_validate(app_doc)
    roles = {role.id: (role.min_members, role.scales_out) for role in app.spec.roles}
    assert roles == {"master": (1, False), "worker": (1, True), "notebook": (0, True)}


def test_config_model() -> None:
    doc = {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorConfig",
        "metadata": {"name": "kd-global-config"},
        "spec": {"defaultStorageClassName": "fast", "nativeSystemdSupport": True},
    }
    config = KubeDirectorConfig.model_validate(doc)
    assert config.spec is not None
    assert config.spec.default_storage_class_name == "fast"
    assert config.to_wire() == doc
