"""Bad input is a clear problem with its location, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.api.documents import parse_documents, read_documents
from kubedirector_core.problems import Problem
from kubedirector_core.validation import check_header, validate_cluster, validate_document

Doc = dict[str, Any]


def test_malformed_yaml() -> None:
    documents, problems = parse_documents("spec:\n  app: x\n   roles: []\n", "c.yaml")
    assert documents == []
    assert problems == [
        Problem("", "not valid YAML: line 3, column 9: mapping values are not allowed here")
    ]


def test_json_where_yaml_is_expected(cluster_doc: Doc) -> None:
    text = json.dumps(cluster_doc, indent="\t")  # tabs: YAML alone would refuse this
    documents, problems = parse_documents(text, "cluster.yaml")
    assert problems == []
    assert [d.body for d in documents] == [cluster_doc]


def test_broken_json_file() -> None:
    assert parse_documents('{"kind": }', "app.json") == (
        [],
        [Problem("", "not valid JSON: line 1, column 10: Expecting value")],
    )


def test_multi_document_yaml_with_comments_and_empty_documents() -> None:
    text = "# a Secret, commented out\n---\na: 1\n---\n---\nb: 2\n"
    documents, problems = parse_documents(text, "f.yaml")
    assert problems == []
    assert [(d.index, d.body) for d in documents] == [(1, {"a": 1}), (3, {"b": 2})]


def test_a_file_of_comments_only() -> None:
    assert parse_documents("# nothing\n", "f.yaml") == ([], [Problem("", "holds no document")])


def test_an_unreadable_file(tmp_path: Path) -> None:
    documents, problems = read_documents(tmp_path / "missing.yaml")
    assert documents == []
    assert problems[0].message.startswith("cannot be read: ")


def test_deeply_nested_yaml() -> None:
    for text in ("[" * 5000 + "]" * 5000, "a:\n" + "".join(" " * i + "- \n" for i in range(3000))):
        documents, problems = parse_documents(text, "deep.yaml")
        assert documents == [] or problems == []


def test_unknown_kind(cluster_doc: Doc) -> None:
    cluster_doc["kind"] = "KubeDirectorThing"
    assert validate_document(cluster_doc) == (
        None,
        [
            Problem(
                "kind",
                "'KubeDirectorThing' is not one of the expected kinds: KubeDirectorApp, "
                "KubeDirectorCluster, KubeDirectorConfig",
            )
        ],
    )


def test_missing_api_version(cluster_doc: Doc) -> None:
    del cluster_doc["apiVersion"]
    assert check_header(cluster_doc) == [
        Problem("apiVersion", "is missing: set apiVersion: kubedirector.hpe.com/v1beta1")
    ]


def test_wrong_api_version(cluster_doc: Doc) -> None:
    cluster_doc["apiVersion"] = "kubedirector.hpe.com/v1alpha1"
    assert check_header(cluster_doc) == [
        Problem(
            "apiVersion",
            "'kubedirector.hpe.com/v1alpha1' is not a KubeDirector API version: use "
            "kubedirector.hpe.com/v1beta1",
        )
    ]


def test_missing_name(cluster_doc: Doc) -> None:
    del cluster_doc["metadata"]
    assert check_header(cluster_doc) == [
        Problem("metadata.name", "is missing: every resource needs a name")
    ]


@pytest.mark.parametrize(("body", "got"), [([1, 2], "list"), ("text", "str"), (None, "empty")])
def test_not_a_mapping(body: object, got: str) -> None:
    assert validate_document(body) == (
        None,
        [
            Problem(
                "",
                f"the document is {got}, not a resource: expected a mapping with apiVersion, "
                "kind, metadata and spec",
            )
        ],
    )


def test_a_cluster_naming_an_app_that_is_not_installed(cluster_doc: Doc) -> None:
    _cluster, problems = validate_document(cluster_doc, apps={})
    assert [p.path for p in problems] == ["spec.app"]


def test_ten_thousand_roles(cluster_doc: Doc) -> None:
    role = cluster_doc["spec"]["roles"][0]
    cluster_doc["spec"]["roles"] = [{**role, "id": f"r{i}"} for i in range(10_000)]
    assert validate_cluster(cluster_doc, None) == (
        None,
        [Problem("spec.roles", "has 10000 items; at most 64 are allowed")],
    )


def test_many_problems_are_reported_briefly(cluster_doc: Doc) -> None:
    role = cluster_doc["spec"]["roles"][0]
    cluster_doc["spec"]["roles"] = [{**role, "id": f"r{i}", "members": -1} for i in range(60)]
    _cluster, problems = validate_cluster(cluster_doc, None)
    assert len(problems) == 51
    assert problems[0] == Problem("spec.roles[0].members", "must be at least 0, got -1")
    assert problems[-1] == Problem("", "... and 10 more problems")
