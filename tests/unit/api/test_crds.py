"""The CRDs in deploy/crds are what the models give, and are structural and explained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedirector_core.api import crdgen

CRD_DIR = Path(__file__).resolve().parents[3] / "deploy" / "crds"


def test_checked_in_crds_match_the_models() -> None:
    stale = crdgen.drifted(CRD_DIR)
    assert stale == [], "run `python -m kubedirector_core.api.crdgen` and commit deploy/crds"


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert crdgen.main([str(tmp_path), "--check"]) == 1
    crdgen.write(tmp_path)
    assert crdgen.main([str(tmp_path), "--check"]) == 0


def _crd(plural: str) -> dict[str, Any]:
    kind = next(k for k in crdgen.KINDS if k.plural == plural)
    return crdgen.crd(kind)


def _walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


PLURALS = ["kubedirectorapps", "kubedirectorclusters", "kubedirectorconfigs"]


@pytest.mark.parametrize("plural", PLURALS)
def test_every_field_has_a_description(plural: str) -> None:
    schema = _crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = [
        f"{path}.{name}"
        for path, node in _walk(schema)
        for name, prop in node.get("properties", {}).items()
        if not prop.get("description") and f"{path}.{name}" != ".metadata"
    ]
    assert missing == []


@pytest.mark.parametrize("plural", PLURALS)
def test_schemas_are_structural(plural: str) -> None:
    schema = _crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert not {"$ref", "anyOf", "oneOf", "allOf", "title", "default"} & node.keys(), path
        assert not ("properties" in node and "additionalProperties" in node), path
        typed = "type" in node or node.get("x-kubernetes-int-or-string")
        assert typed or node.get("x-kubernetes-preserve-unknown-fields"), path


def test_cluster_crd_names_columns_and_status() -> None:
    crd = _crd("kubedirectorclusters")
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["kdcluster"]
    assert names["categories"] == ["kubedirector"]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("App", ".spec.app"),
        ("State", ".status.state"),
        ("Ready", ".status.membersReady"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def test_short_names() -> None:
    assert [_crd(p)["spec"]["names"]["shortNames"] for p in PLURALS] == [
        ["kdapp"],
        ["kdcluster"],
        ["kdconfig"],
    ]


def test_roles_are_a_list_map_keyed_by_id() -> None:
    spec = _crd("kubedirectorclusters")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    roles = spec["properties"]["spec"]["properties"]["roles"]
    assert roles["x-kubernetes-list-type"] == "map"
    assert roles["x-kubernetes-list-map-keys"] == ["id"]
    assert "id" in roles["items"]["required"]


def test_immutable_fields_have_transition_rules() -> None:
    spec = _crd("kubedirectorclusters")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    cluster_spec = spec["properties"]["spec"]
    assert cluster_spec["properties"]["app"]["x-kubernetes-validations"][0]["rule"] == (
        "self == oldSelf"
    )
    rules = [rule["rule"] for rule in cluster_spec["x-kubernetes-validations"]]
    assert any("oldSelf.appCatalog" in rule for rule in rules)


def test_status_declares_the_operators_progress() -> None:
    spec = _crd("kubedirectorclusters")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    status = spec["properties"]["status"]["properties"]
    assert {"conditions", "observedGeneration", "notifications"} <= status.keys()
    member = status["roles"]["items"]["properties"]["members"]["items"]["properties"]
    assert {"configured", "containerID", "setupResult"} <= member.keys()
    assert "kubedirector-core" in member["configured"]["description"]


def test_checked_in_files_are_yaml_crds() -> None:
    for path in sorted(CRD_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        assert document["kind"] == "CustomResourceDefinition", path


def test_numeric_bounds_use_openapi_v3_0_form() -> None:
    """apiextensions/v1 rejects JSON Schema 2020's numeric exclusive bounds."""

    def walk(node: object) -> list[object]:
        if isinstance(node, dict):
            found = [node[k] for k in ("exclusiveMinimum", "exclusiveMaximum") if k in node]
            return found + [v for value in node.values() for v in walk(value)]
        if isinstance(node, list):
            return [v for item in node for v in walk(item)]
        return []

    flags = [flag for kind in crdgen.KINDS for flag in walk(crdgen.crd(kind))]
    assert flags, "the cluster schema has at least one exclusive bound (targetUtilization)"
    assert all(isinstance(flag, bool) for flag in flags)
