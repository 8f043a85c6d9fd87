"""Files written for the original KubeDirector validate and round-trip unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.api.documents import read_documents
from kubedirector_core.catalog import load_catalog
from kubedirector_core.validation import validate_app, validate_cluster

#: Where the corpus is expected (also in conftest.py, whose fixture skips when it is absent).
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "kubedirector"


def _files(folder: str) -> list[str]:
    path = CORPUS / folder
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def _documents(path: Path) -> list[dict[str, Any]]:
    documents, problems = read_documents(path)
    assert problems == []
    return [d.body for d in documents if isinstance(d.body, dict)]


@pytest.mark.parametrize("name", _files("apps"))
def test_app_validates_and_round_trips(corpus: Path, name: str) -> None:
    (document,) = _documents(corpus / "apps" / name)
    app, problems = validate_app(document)
    assert problems == []
    assert isinstance(app, KubeDirectorApp)
    assert app.to_wire() == document
    assert app.model_dump(by_alias=True, exclude_unset=True, mode="json") == document


@pytest.mark.parametrize("name", _files("clusters"))
def test_cluster_validates_against_its_app_and_round_trips(corpus: Path, name: str) -> None:
    apps = load_catalog([corpus / "apps"], include_installed=False)
    assert apps.problems == ()
    documents = _documents(corpus / "clusters" / name)
    assert documents, "every cluster file holds a cluster"
    for document in documents:
        cluster, problems = validate_cluster(document, apps.apps().get(document["spec"]["app"]))
        assert problems == []
        assert isinstance(cluster, KubeDirectorCluster)
        assert cluster.to_wire() == document


def test_the_corpus_is_not_empty(corpus: Path) -> None:
    assert len(_files("apps")) >= 6
    assert len(_files("clusters")) >= 8
