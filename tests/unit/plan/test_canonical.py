"""Planned objects come out with sorted keys and their values untouched, whatever they hold."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

from kubedirector_core.plan.render import canonical, sort_objects


def _key_orders(value: Any) -> list[list[str]]:
    """Every mapping's keys, in the order they come, depth first."""
    if isinstance(value, dict):
        found = [list(value)]
        for item in value.values():
            found += _key_orders(item)
        return found
    if isinstance(value, list):
        return [order for item in value for order in _key_orders(item)]
    return []


def test_a_manifest_comes_out_equal_with_every_mapping_sorted() -> None:
    manifest = {
        "spec": {"replicas": 3, "template": {"z": [{"b": 1.5, "a": None}], "a": True}},
        "metadata": {"name": "web", "labels": {"y": "1", "x": "2"}},
        "kind": "Service",
    }
    result = canonical(manifest)
    assert result == manifest
    assert all(order == sorted(order) for order in _key_orders(result))
    assert json.dumps(result) == json.dumps(manifest, sort_keys=True)


def test_values_json_cannot_carry_keep_their_exact_value() -> None:
    # A plugin may hand back anything a mapping holds: none of it may change or be lost.
    huge = 2**70
    value = {"b": {2: "two", 1: "one"}, "a": (huge, MappingProxyType({"d": 1, "c": 2}))}
    result = canonical(value)
    assert result == {"a": [huge, {"c": 2, "d": 1}], "b": {1: "one", 2: "two"}}
    assert list(result) == ["a", "b"]
    assert list(result["b"]) == [1, 2]
    assert list(result["a"][1]) == ["c", "d"]


def test_objects_are_ordered_services_first_then_by_name() -> None:
    objects = [
        {"kind": "StatefulSet", "metadata": {"name": "a"}},
        {"kind": "Service", "metadata": {"name": "b"}},
        {"kind": "ConfigMap", "metadata": {"name": "c"}},
        {"kind": "Service", "metadata": {"name": "a"}},
    ]
    ordered = [(o["kind"], o["metadata"]["name"]) for o in sort_objects(objects)]
    assert ordered == [
        ("Service", "a"),
        ("Service", "b"),
        ("StatefulSet", "a"),
        ("ConfigMap", "c"),
    ]
