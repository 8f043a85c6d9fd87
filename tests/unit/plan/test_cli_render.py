"""``kubedirector render``: objects as multi-document YAML, or problems and exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubedirector_core.cli import main

from .conftest import app_wire, cluster_wire


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KD_PLUGIN_AUTOLOAD", "0")
    monkeypatch.delenv("KD_PLUGINS", raising=False)
    monkeypatch.delenv("KUBEDIRECTOR_CATALOG", raising=False)


def test_render_prints_the_objects(tmp_path: Path) -> None:
    cluster_file = tmp_path / "cluster.yaml"
    app_file = tmp_path / "app.yaml"
    cluster_file.write_text(yaml.safe_dump(cluster_wire()))
    app_file.write_text(yaml.safe_dump(app_wire()))
    result = CliRunner().invoke(main, ["render", str(cluster_file), "--app", str(app_file)])
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents].count("StatefulSet") == 3
    again = CliRunner().invoke(main, ["render", str(cluster_file), "--app", str(app_file)])
    assert again.stdout == result.stdout


def test_render_a_corpus_cluster(corpus: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(corpus / "clusters" / "cr-cluster-spark245-stor.yaml"),
            "--app",
            str(corpus / "apps" / "cr-app-spark245.json"),
            "-n",
            "analytics",
        ],
    )
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert {d["metadata"]["namespace"] for d in documents} == {"analytics"}


def test_bad_input_says_where_and_exits_1(tmp_path: Path) -> None:
    document = cluster_wire()
    document["spec"]["roles"][0]["members"] = 2  # master is exactly 1
    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text(yaml.safe_dump(document))
    app_file = tmp_path / "app.yaml"
    app_file.write_text(yaml.safe_dump(app_wire()))
    result = CliRunner().invoke(main, ["render", str(cluster_file), "--app", str(app_file)])
    assert result.exit_code == 1
    assert f"{cluster_file}: spec.roles[0].members:" in result.stderr
    missing = CliRunner().invoke(main, ["render", str(cluster_file)])
    assert missing.exit_code == 1
    assert "spec.app: app 'demo' is not installed" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    unreadable = CliRunner().invoke(main, ["render", str(broken)])
    assert unreadable.exit_code == 1
    assert f"{broken}: not valid YAML" in unreadable.output


def test_render_with_the_operators_config(tmp_path: Path) -> None:
    cluster = cluster_wire()
    del cluster["spec"]["serviceType"]
    cluster_file = tmp_path / "cluster.yaml"
    app_file = tmp_path / "app.yaml"
    config_file = tmp_path / "config.yaml"
    cluster_file.write_text(yaml.safe_dump(cluster))
    app_file.write_text(yaml.safe_dump(app_wire()))
    config_file.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubedirector.hpe.com/v1beta1",
                "kind": "KubeDirectorConfig",
                "metadata": {"name": "kd-global-config", "namespace": "kubedirector"},
                "spec": {"defaultServiceType": "LoadBalancer", "podLabels": {"team": "data"}},
            }
        )
    )
    arguments = ["render", str(cluster_file), "--app", str(app_file), "--config", str(config_file)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    statefulsets = [d for d in documents if d["kind"] == "StatefulSet"]
    assert all(s["spec"]["template"]["metadata"]["labels"]["team"] == "data" for s in statefulsets)
    member_services = [
        d for d in documents if d["kind"] == "Service" and d["spec"].get("clusterIP") != "None"
    ]
    assert member_services
    assert {s["spec"]["type"] for s in member_services} == {"LoadBalancer"}

    config_file.write_text(config_file.read_text().replace("LoadBalancer", "Everywhere"))
    refused = CliRunner().invoke(main, arguments)
    assert refused.exit_code == 1
    assert "spec.defaultServiceType" in refused.output
