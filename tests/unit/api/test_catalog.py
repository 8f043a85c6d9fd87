"""The catalog: apps from folders, files and installed packages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from importlib_metadata import EntryPoint

from kubedirector_core import catalog as catalog_module
from kubedirector_core.catalog import ENTRY_POINT_GROUP, load_catalog, select
from kubedirector_core.errors import CatalogError
from kubedirector_core.problems import Problem, Severity

Doc = dict[str, Any]


def _renamed(app_doc: Doc, name: str) -> Doc:
    return {**app_doc, "metadata": {"name": name}}


def test_folder_with_yaml_json_and_clusters(tmp_path: Path, app_doc: Doc, cluster_doc: Doc) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_text(json.dumps(app_doc))
    (tmp_path / "sub" / "b.yaml").write_text(
        yaml.safe_dump_all([_renamed(app_doc, "hadoop"), cluster_doc])
    )
    (tmp_path / "notes.txt").write_text("not an app")
    catalog = load_catalog([tmp_path], include_installed=False)
    assert catalog.names() == ["hadoop", "spark"]
    assert catalog.problems == ()
    assert catalog.get("hadoop").source == f"{tmp_path / 'sub' / 'b.yaml'}"


def test_single_multi_document_file(tmp_path: Path, app_doc: Doc) -> None:
    path = tmp_path / "apps.yaml"
    path.write_text(yaml.safe_dump_all([app_doc, _renamed(app_doc, "other")]))
    catalog = load_catalog([path], include_installed=False)
    assert [(e.name, e.source) for e in catalog.entries] == [
        ("spark", str(path)),
        ("other", f"{path}#2"),
    ]


def test_invalid_apps_are_left_out_and_reported(tmp_path: Path, app_doc: Doc) -> None:
    app_doc["spec"]["config"]["selectedRoles"] = ["ghost"]
    (tmp_path / "bad.json").write_text(json.dumps(app_doc))
    (tmp_path / "broken.yaml").write_text("kind: [")
    catalog = load_catalog([tmp_path], include_installed=False)
    assert catalog.entries == ()
    assert [str(p) for p in catalog.problems] == [
        f"{tmp_path / 'bad.json'}: spec.config.selectedRoles[0]: 'ghost' is not a role of this "
        "app; its roles are: master, worker, notebook",
        f"{tmp_path / 'broken.yaml'}: not valid YAML: line 1, column 8: expected the node "
        "content, but found '<stream end>'",
    ]


def test_first_app_of_a_name_wins(tmp_path: Path, app_doc: Doc) -> None:
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    first.write_text(json.dumps(app_doc))
    second.write_text(json.dumps(app_doc))
    catalog = load_catalog([first, second], include_installed=False)
    assert [e.source for e in catalog.entries] == [str(first)]
    assert catalog.problems[0].problem == Problem(
        "metadata.name",
        f"app 'spark' is also defined in {first}, which wins; rename one of them",
        Severity.WARNING,
    )


def test_missing_path(tmp_path: Path) -> None:
    catalog = load_catalog([tmp_path / "nope"], include_installed=False)
    assert [str(p) for p in catalog.problems] == [f"{tmp_path / 'nope'}: does not exist"]


def test_select(tmp_path: Path, app_doc: Doc) -> None:
    (tmp_path / "a.json").write_text(json.dumps(app_doc))
    catalog = load_catalog([tmp_path], include_installed=False)
    assert [e.name for e in select(catalog, [])] == ["spark"]
    with pytest.raises(CatalogError, match="no app named 'x' in the catalog; known apps: spark"):
        select(catalog, ["x"])


def _install_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, body: str
) -> None:
    (tmp_path / f"{module}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint("kd-fake", f"{module}:catalog_path", ENTRY_POINT_GROUP)
    monkeypatch.setattr(catalog_module, "entry_points", lambda group: [point])


def test_installed_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_doc: Doc) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "spark.json").write_text(json.dumps(app_doc))
    _install_package(
        monkeypatch, tmp_path, "kd_fake_good", f"def catalog_path():\n    return {str(apps)!r}\n"
    )
    assert load_catalog([]).names() == ["spark"]


def test_broken_installed_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _install_package(monkeypatch, tmp_path, "kd_fake_bad", "def catalog_path():\n    return 42\n")
    with pytest.raises(CatalogError, match="catalog entry point 'kd-fake' returned 42"):
        load_catalog([])
