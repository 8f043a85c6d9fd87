"""Each rule of a KubeDirectorApp, with the exact problem it reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubedirector_core.problems import Problem, Severity
from kubedirector_core.validation import validate_app, validate_app_delete

Doc = dict[str, Any]


def test_a_valid_app_has_no_problem(app_doc: Doc) -> None:
    app, problems = validate_app(app_doc)
    assert problems == []
    assert app is not None
    assert app.role_ids == ["master", "worker", "notebook"]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


_DELETE = object()

CASES: list[tuple[str, Callable[[Doc], None], list[Problem]]] = [
    (
        "duplicate role id",
        _set("spec.roles.2.id", "worker"),
        [
            Problem(
                "spec.roles[2].id",
                "role id 'worker' is used by another role: role ids must be unique",
            ),
            Problem(
                "spec.config.selectedRoles[2]",
                "'notebook' is not a role of this app; its roles are: master, worker, worker",
            ),
        ],
    ),
    (
        "duplicate service id",
        _set("spec.services.1.id", "web"),
        [
            Problem(
                "spec.services[1].id",
                "service id 'web' is used by another service: service ids must be unique",
            ),
            Problem(
                "spec.config.roleServices[0].serviceIDs[1]",
                "'ssh' is not a service of this app; its services are: web, web",
            ),
            Problem(
                "spec.config.roleServices[1].serviceIDs[0]",
                "'ssh' is not a service of this app; its services are: web, web",
            ),
        ],
    ),
    (
        "dashboard without url scheme",
        _set("spec.services.0.endpoint.urlScheme", _DELETE),
        [
            Problem(
                "spec.services[0].endpoint.urlScheme",
                "is required because isDashboard is true: set it (e.g. http) or set "
                "isDashboard to false",
            )
        ],
    ),
    (
        "selected role listed twice",
        _set("spec.config.selectedRoles", ["master", "worker", "master"]),
        [Problem("spec.config.selectedRoles[2]", "'master' is listed twice: list each role once")],
    ),
    (
        "unknown selected role",
        _set("spec.config.selectedRoles.1", "wroker"),
        [
            Problem(
                "spec.config.selectedRoles[1]",
                "'wroker' is not a role of this app; its roles are: master, worker, notebook",
            )
        ],
    ),
    (
        "role services given twice for a role",
        _set("spec.config.roleServices.1.roleID", "master"),
        [
            Problem(
                "spec.config.roleServices[1].roleID",
                "'master' already has an entry: give each role one entry listing all its services",
            )
        ],
    ),
    (
        "unknown role in role services",
        _set("spec.config.roleServices.1.roleID", "edge"),
        [
            Problem(
                "spec.config.roleServices[1].roleID",
                "'edge' is not a role of this app; its roles are: master, worker, notebook",
            )
        ],
    ),
    (
        "unknown service in role services",
        _set("spec.config.roleServices.1.serviceIDs", ["ssh", "hdfs"]),
        [
            Problem(
                "spec.config.roleServices[1].serviceIDs[1]",
                "'hdfs' is not a service of this app; its services are: web, ssh",
            )
        ],
    ),
    (
        "role without any image",
        _set("spec.defaultImageRepoTag", _DELETE),
        [
            Problem(
                f"spec.roles[{index}].imageRepoTag",
                f"role {role!r} has no image: set its imageRepoTag or spec.defaultImageRepoTag",
            )
            for index, role in enumerate(["master", "worker", "notebook"])
        ],
    ),
    (
        "tty without stdin",
        _set("spec.roles.0.containerSpec", {"tty": True}),
        [
            Problem(
                "spec.roles[0].containerSpec.stdin",
                "must be true because tty is true: a TTY needs stdin",
            )
        ],
    ),
    (
        "zero minimum storage",
        _set("spec.roles.1.minStorage.size", "0"),
        [Problem("spec.roles[1].minStorage.size", "must be greater than zero")],
    ),
    (
        "bad cardinality",
        _set("spec.roles.1.cardinality", "one+"),
        [
            Problem(
                "spec.roles[1].cardinality",
                "'one+' must be a number of members, optionally followed by \"+\" "
                '(e.g. "1" or "2+")',
            )
        ],
    ),
    (
        "cardinality written as a number",
        _set("spec.roles.0.cardinality", 1),
        [Problem("spec.roles[0].cardinality", "must be a string, got 1: put the value in quotes")],
    ),
    (
        "old config schema",
        _set("spec.configSchemaVersion", 6),
        [Problem("spec.configSchemaVersion", "must be at least 7, got 6")],
    ),
    (
        "missing label",
        _set("spec.label", _DELETE),
        [Problem("spec.label", "is required but missing")],
    ),
    (
        "bad package url",
        _set("spec.defaultConfigPackage.packageURL", "ftp://x/setup.zip"),
        [
            Problem(
                "spec.defaultConfigPackage.packageURL",
                "'ftp://x/setup.zip' must be a file://, http:// or https:// URL of a .tgz file",
            )
        ],
    ),
    (
        "bad minimum resource quantity",
        _set("spec.roles.0.minResources.memory", "2 GB"),
        [
            Problem(
                "spec.roles[0].minResources.memory",
                "'2 GB' is not a quantity: write a number with an optional unit, such as "
                "'4Gi', '512Mi', '2', '500m' or '1e3'",
            )
        ],
    ),
    (
        "event outside the lifecycle",
        _set("spec.defaultEventList", ["configure", "reboot"]),
        [Problem("spec.defaultEventList[1]", "'reboot' must be configure, addnodes or delnodes")],
    ),
    (
        "snake_case field name",
        _set("spec.distro_id", "x"),
        [
            Problem(
                "spec.distro_id",
                "is not a KubeDirector field: it is kept but nothing reads it; check its spelling",
                Severity.WARNING,
            )
        ],
    ),
    (
        "unknown field inside a closed part",
        _set("spec.roles.0.members", 3),
        [
            Problem(
                "spec.roles[0].members",
                "is not a known field: check its spelling (KubeDirector's names are camelCase)",
            )
        ],
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(app_doc: Doc, change: Callable[[Doc], None], expected: list[Problem]) -> None:
    change(app_doc)
    _app, problems = validate_app(app_doc)
    assert problems == expected


def test_an_app_in_use_cannot_change(app_doc: Doc) -> None:
    old = app_doc
    new = {**old, "spec": {**old["spec"], "version": "2.0"}}
    _app, problems = validate_app(new, old=old, in_use_by=["b", "a"])
    assert problems == [
        Problem(
            "spec",
            "app 'spark' cannot be changed while clusters use it (a, b): delete those "
            "clusters first, or publish the change as a new app",
        )
    ]


def test_an_app_in_use_may_change_its_labels(app_doc: Doc) -> None:
    new = {**app_doc, "metadata": {"name": "spark", "labels": {"tier": "gold"}}}
    assert validate_app(new, old=app_doc, in_use_by=["a"])[1] == []


def test_an_app_in_use_cannot_be_deleted() -> None:
    assert validate_app_delete("spark", ["a"]) == [
        Problem(
            "",
            "app 'spark' cannot be deleted while clusters use it (a): delete those clusters "
            "first, or publish the change as a new app",
        )
    ]
    assert validate_app_delete("spark", []) == []


class _Plugins:
    def __init__(self) -> None:
        self.calls = 0

    def validate_app(self, app: Any) -> list[Problem]:
        self.calls += 1
        return [Problem("spec.version", "kd-spark needs 2.x", source="kd-spark")]

    def validate_cluster(self, cluster: Any, app: Any, old: Any) -> list[Problem]:
        return []


def test_plugin_rules_add_their_problems(app_doc: Doc) -> None:
    plugins = _Plugins()
    _app, problems = validate_app(app_doc, plugin_rules=plugins)
    assert problems == [Problem("spec.version", "kd-spark needs 2.x", source="kd-spark")]


def test_plugin_rules_do_not_run_on_an_app_with_errors(app_doc: Doc) -> None:
    plugins = _Plugins()
    app_doc["spec"]["config"]["selectedRoles"] = ["nope"]
    validate_app(app_doc, plugin_rules=plugins)
    assert plugins.calls == 0
