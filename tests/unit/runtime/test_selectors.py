"""Namespace selection by label selector."""

from __future__ import annotations

import pytest

from kubedirector_core.runtime.selectors import parse_selector


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("team=data", {"team": "data"}, True),
        ("team==data", {"team": "ml"}, False),
        ("team!=data", {}, True),
        ("env", {"env": ""}, True),
        ("!env", {"env": "x"}, False),
        ("tier in (a, b),team", {"tier": "b", "team": "x"}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
    ],
)
def test_selector_matches_like_kubernetes(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_selector(selector)(labels) is matches


def test_a_malformed_selector_is_refused() -> None:
    with pytest.raises(ValueError, match="not a label selector"):
        parse_selector("team=data,,(")
