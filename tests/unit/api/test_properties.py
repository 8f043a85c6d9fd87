"""Property tests: random and mutated documents never crash the validator.

Each document yields either a model or problems, and every problem has a
wire path and a message.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.problems import Problem
from kubedirector_core.validation import validate_app, validate_cluster, validate_document

from .conftest import _APP, _CLUSTER

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["4Gi", "1+", "2", "worker", "master", "/data", "http", "local", ""]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

APP = KubeDirectorApp.model_validate(_APP)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    document: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        if not path:
            document = draw(JSON)
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(JSON)
        else:
            parent.append(draw(JSON))
    return document


def _well_formed(model: object, problems: list[Problem]) -> None:
    assert model is not None or problems, "no model and no problem"
    for problem in problems:
        assert isinstance(problem.path, str)
        assert problem.message
        assert "Traceback" not in problem.message


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(["apiVersion", "kind", "spec"]), JSON)))
def test_random_documents(document: Any) -> None:
    _well_formed(*validate_document(document, apps={"spark": APP}))


@SETTINGS
@given(mutated(_APP))
def test_mutated_apps(document: Any) -> None:
    _well_formed(*validate_app(document))


@SETTINGS
@given(mutated(_CLUSTER), mutated(_CLUSTER))
def test_mutated_clusters(document: Any, old: Any) -> None:
    _well_formed(*validate_cluster(document, APP))
    old_mapping = old if isinstance(old, dict) else None
    _well_formed(*validate_cluster(document, APP, old=old_mapping))
