"""Each rule of a KubeDirectorCluster, with the exact problem it reports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.problems import Problem
from kubedirector_core.validation import StorageFacts, cluster_defaults, validate_cluster

Doc = dict[str, Any]


@pytest.fixture
def app(app_doc: Doc) -> KubeDirectorApp:
    return KubeDirectorApp.model_validate(app_doc)


def problems_of(cluster_doc: Doc, app: KubeDirectorApp | None, **facts: Any) -> list[Problem]:
    return validate_cluster(cluster_doc, app, **facts)[1]


def test_a_valid_cluster_has_no_problem(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster, problems = validate_cluster(cluster_doc, app)
    assert problems == []
    assert cluster is not None
    assert cluster.total_members == 3


def test_an_app_that_is_not_installed(cluster_doc: Doc) -> None:
    assert problems_of(cluster_doc, None) == [
        Problem(
            "spec.app",
            "app 'spark' is not installed: install it (kubedirector catalog install spark), "
            "or, offline, give its file with --app",
        )
    ]


def test_exact_cardinality(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][0]["members"] = 2
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[0].members",
            "role 'master' asks for 2 members but app 'spark' allows exactly 1 (cardinality '1')",
        )
    ]


def test_scale_out_cardinality(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["members"] = 0
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].members",
            "role 'worker' asks for 0 members but app 'spark' allows at least 1 (cardinality '1+')",
        )
    ]


def test_member_cap_of_one_role(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["members"] = 10_000
    assert problems_of(cluster_doc, app) == [
        Problem("spec.roles[1].members", "must be at most 1000, got 10000")
    ]


def test_member_cap_of_the_cluster(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["members"] = 1000
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles",
            "the roles ask for 1001 members in all; a cluster may have at most 1000",
        )
    ]


def test_unknown_role(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["id"] = "wroker"
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].id",
            "'wroker' is not a role of app 'spark'; its roles are: master, worker, notebook",
        ),
        Problem(
            "spec.roles",
            "role 'worker' of app 'spark' needs at least 1 member: add it to spec.roles",
        ),
    ]


def test_role_listed_twice(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"].append(copy.deepcopy(cluster_doc["spec"]["roles"][1]))
    assert problems_of(cluster_doc, app) == [
        Problem("spec.roles[2].id", "role 'worker' is listed twice: list each role once")
    ]


def test_required_role_missing(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    del cluster_doc["spec"]["roles"][0]
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles",
            "role 'master' of app 'spark' needs at least 1 member: add it to spec.roles",
        )
    ]


@pytest.mark.parametrize(("resource", "example"), [("memory", "4Gi"), ("cpu", "2")])
def test_limits_are_required(
    cluster_doc: Doc, app: KubeDirectorApp, resource: str, example: str
) -> None:
    del cluster_doc["spec"]["roles"][1]["resources"]["limits"][resource]
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].resources.limits",
            f"a {resource} limit is required: set resources.limits.{resource}, e.g. '{example}'",
        )
    ]


def test_limits_block_is_required(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    del cluster_doc["spec"]["roles"][1]["resources"]["limits"]
    assert problems_of(cluster_doc, app) == [
        Problem("spec.roles[1].resources.limits", "is required but missing")
    ]


def test_request_above_limit(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["resources"]["requests"]["cpu"] = "2500m"
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].resources.requests.cpu",
            "requests '2500m' but the limit is '2': a request may not exceed its limit",
        )
    ]


def test_min_resources(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    resources = cluster_doc["spec"]["roles"][0]["resources"]
    resources["requests"]["memory"] = "1Gi"
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[0].resources.requests.memory",
            "role 'master' requests memory '1Gi' but app 'spark' needs at least '2Gi'",
        )
    ]


def test_min_resources_count_a_missing_request_as_the_limit(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    del cluster_doc["spec"]["roles"][0]["resources"]["requests"]
    assert problems_of(cluster_doc, app) == []


def test_extended_resources_such_as_gpus(cluster_doc: Doc, app_doc: Doc) -> None:
    app_doc["spec"]["roles"][0]["minResources"]["nvidia.com/gpu"] = "1"
    app = KubeDirectorApp.model_validate(app_doc)
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[0].resources.requests[nvidia.com/gpu]",
            "role 'master' requests nvidia.com/gpu 0 but app 'spark' needs at least '1'",
        )
    ]
    for block in ("requests", "limits"):
        cluster_doc["spec"]["roles"][0]["resources"][block]["nvidia.com/gpu"] = "1"
    assert problems_of(cluster_doc, app) == []


def test_min_storage_missing(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    del cluster_doc["spec"]["roles"][1]["storage"]
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].storage",
            "role 'worker' needs persistent storage of at least '10Gi': set storage.size",
        )
    ]


def test_min_storage_too_small(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["storage"]["size"] = "5Gi"
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].storage.size",
            "'5Gi' is less than the '10Gi' app 'spark' needs for role 'worker'",
        )
    ]


def test_storage_size_must_be_positive(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][0]["storage"] = {"size": "0"}
    assert problems_of(cluster_doc, app) == [
        Problem("spec.roles[0].storage.size", "must be greater than zero")
    ]


def test_quantity_that_does_not_parse(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["storage"]["size"] = "20 gigs"
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[1].storage.size",
            "'20 gigs' is not a quantity: write a number with an optional unit, such as "
            "'4Gi', '512Mi', '2', '500m' or '1e3'",
        )
    ]


def test_shared_memory_must_be_positive(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][0]["sharedMemory"] = "0"
    assert problems_of(cluster_doc, app) == [
        Problem("spec.roles[0].sharedMemory", "must be greater than zero")
    ]


def test_label_values_are_short(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][0]["podLabels"] = {"team": "x" * 64}
    assert problems_of(cluster_doc, app) == [
        Problem("spec.roles[0].podLabels.team", "label values may be at most 63 characters long")
    ]


STORAGE = StorageFacts(classes=frozenset({"fast", "slow"}), default_class="slow")


def test_storage_class_must_exist(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["roles"][1]["storage"]["storageClassName"] = "gold"
    assert problems_of(cluster_doc, app, storage=STORAGE) == [
        Problem(
            "spec.roles[1].storage.storageClassName",
            "StorageClass 'gold' does not exist; existing classes: fast, slow",
        )
    ]


def test_storage_needs_a_default_class(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    storage = StorageFacts(classes=frozenset({"fast"}), default_class=None)
    assert problems_of(cluster_doc, app, storage=storage) == [
        Problem(
            "spec.roles[1].storage.storageClassName",
            "is not set and the cluster has no default StorageClass: name a StorageClass "
            "here or set KubeDirectorConfig's defaultStorageClassName",
        )
    ]


def test_default_storage_class_must_exist(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    storage = StorageFacts(classes=frozenset({"fast"}), default_class="gone")
    assert problems_of(cluster_doc, app, storage=storage) == [
        Problem(
            "spec.roles[1].storage.storageClassName",
            "is not set and the default StorageClass 'gone' does not exist: name an "
            "existing StorageClass",
        )
    ]


def test_encrypted_values_are_written_by_the_operator(
    cluster_doc: Doc, app: KubeDirectorApp
) -> None:
    cluster_doc["spec"]["roles"][0]["secretKeys"] = [{"name": "k", "encryptedValue": "abc"}]
    assert problems_of(cluster_doc, app) == [
        Problem(
            "spec.roles[0].secretKeys[0].encryptedValue",
            "is written by the operator: set value instead and leave encryptedValue out",
        )
    ]


def _with_status(doc: Doc, **status: Any) -> Doc:
    old = copy.deepcopy(doc)
    old["status"] = {"roles": [{"id": "worker", "members": [{"pod": "w-0"}]}], **status}
    return old


def test_app_is_immutable(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    old = _with_status(cluster_doc)
    cluster_doc["spec"]["app"] = "spark2"
    assert problems_of(cluster_doc, app, old=old)[0] == Problem(
        "spec.app", "app is immutable: delete and re-create the cluster to change its app"
    )


def test_app_catalog_is_immutable_once_set(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    cluster_doc["spec"]["appCatalog"] = "local"
    old = _with_status(cluster_doc)
    cluster_doc["spec"]["appCatalog"] = "system"
    assert problems_of(cluster_doc, app, old=old) == [
        Problem(
            "spec.appCatalog",
            "appCatalog is immutable: delete and re-create the cluster to use another catalog",
        )
    ]


def test_a_live_role_may_change_only_its_members(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    old = _with_status(cluster_doc)
    cluster_doc["spec"]["roles"][1]["members"] = 5
    assert problems_of(cluster_doc, app, old=old) == []
    cluster_doc["spec"]["roles"][1]["storage"]["size"] = "30Gi"
    assert problems_of(cluster_doc, app, old=old) == [
        Problem(
            "spec.roles[1]",
            "role 'worker' has members: only its members count may change; scale it to 0 "
            "first to change anything else",
        )
    ]


def test_a_role_without_members_may_change(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    old = _with_status(cluster_doc)
    cluster_doc["spec"]["roles"][0]["resources"]["limits"]["memory"] = "8Gi"
    assert problems_of(cluster_doc, app, old=old) == []


@pytest.mark.parametrize(
    "status",
    [
        {"notifications": [{"event": "addnodes", "pendingMembers": ["w-0"]}]},
        {
            "roles": [
                {
                    "id": "worker",
                    "members": [
                        {"pod": "w-0", "stateDetail": {"pendingNotifyCmds": [{"arguments": []}]}}
                    ],
                }
            ]
        },
    ],
    ids=["our queue", "kubedirector's per-member queue"],
)
def test_no_spec_change_while_notifications_are_pending(
    cluster_doc: Doc, app: KubeDirectorApp, status: Doc
) -> None:
    old = _with_status(cluster_doc, **status)
    cluster_doc["spec"]["roles"][1]["members"] = 3
    assert problems_of(cluster_doc, app, old=old) == [
        Problem(
            "spec",
            "members are still being told about the previous change: try again once "
            "status.notifications is empty",
        )
    ]


def test_an_update_that_leaves_the_spec_alone_is_not_checked_again(cluster_doc: Doc) -> None:
    old = _with_status(cluster_doc, notifications=[{"event": "addnodes"}])
    cluster_doc["metadata"]["labels"] = {"a": "b"}
    assert problems_of(cluster_doc, None, old=old) == []


def test_defaults(cluster_doc: Doc, app: KubeDirectorApp) -> None:
    del cluster_doc["spec"]["roles"][0]["members"]
    cluster = validate_cluster(cluster_doc, app)[0]
    assert cluster is not None
    assert cluster_defaults(cluster, app, app_catalog="local", storage=STORAGE) == [
        {"op": "add", "path": "/spec/appCatalog", "value": "local"},
        {"op": "add", "path": "/spec/serviceType", "value": "NodePort"},
        {"op": "add", "path": "/spec/namingScheme", "value": "CrNameRole"},
        {"op": "add", "path": "/spec/roles/0/members", "value": 1},
        {"op": "add", "path": "/spec/roles/1/storage/storageClassName", "value": "slow"},
    ]
