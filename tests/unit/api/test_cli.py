"""``kubedirector validate`` and ``kubedirector catalog``, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubedirector_core.cli.catalog import catalog
from kubedirector_core.cli.validate import validate

Doc = dict[str, Any]


@pytest.fixture
def files(tmp_path: Path, app_doc: Doc, cluster_doc: Doc) -> dict[str, Path]:
    app = tmp_path / "app.json"
    app.write_text(json.dumps(app_doc))
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(cluster_doc))
    cluster_doc["spec"]["roles"][0]["members"] = 3
    del cluster_doc["spec"]["roles"][1]["resources"]["limits"]["memory"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cluster_doc))
    return {"app": app, "good": good, "bad": bad}


def test_a_valid_cluster_with_its_app(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(validate, [str(files["good"]), "--app", str(files["app"])])
    assert (result.exit_code, result.output) == (0, "")


def test_one_line_per_problem(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(validate, [str(files["bad"]), "--app", str(files["app"])])
    assert result.exit_code == 1
    bad = files["bad"]
    assert result.output.splitlines() == [
        f"{bad}: spec.roles[0].members: role 'master' asks for 3 members but app 'spark' "
        "allows exactly 1 (cardinality '1')",
        f"{bad}: spec.roles[1].resources.limits: a memory limit is required: set "
        "resources.limits.memory, e.g. '4Gi'",
    ]


def test_json_output(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        validate, [str(files["bad"]), "--app", str(files["app"]), "--output", "json"]
    )
    assert result.exit_code == 1
    findings = json.loads(result.output)
    assert [f["path"] for f in findings] == [
        "spec.roles[0].members",
        "spec.roles[1].resources.limits",
    ]
    assert {f["severity"] for f in findings} == {"error"}


def test_apps_and_clusters_in_one_call(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(validate, [str(files["app"]), str(files["good"])])
    assert (result.exit_code, result.output) == (0, "")


def test_the_app_from_a_catalog_folder(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        validate, [str(files["good"]), "--catalog", str(files["app"].parent)]
    )
    # The folder also holds clusters; a catalog reads only the apps in it.
    assert (result.exit_code, result.output) == (0, "")


def test_malformed_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    result = CliRunner().invoke(validate, [str(broken)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{broken}: not valid YAML: line 2, column 1: ")
    assert "Traceback" not in result.output


def test_catalog_list_and_show(files: dict[str, Path]) -> None:
    folder = str(files["app"].parent)
    listed = CliRunner().invoke(catalog, ["--catalog", folder, "--no-installed", "list"])
    assert listed.exit_code == 0
    assert listed.output == f"spark\t1.0\tSpark\t{files['app']}\n"
    shown = CliRunner().invoke(
        catalog, ["--catalog", folder, "--no-installed", "show", "spark", "--output", "json"]
    )
    assert json.loads(shown.output) == json.loads(files["app"].read_text())


def test_catalog_show_an_unknown_app(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        catalog, ["--catalog", str(files["app"]), "--no-installed", "show", "hadoop"]
    )
    assert result.exit_code == 1
    assert "no app named 'hadoop' in the catalog; known apps: spark" in result.output
