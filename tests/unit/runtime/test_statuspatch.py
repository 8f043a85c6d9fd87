"""The status is written only when it changed, as a minimal merge patch."""

from __future__ import annotations

from kubedirector_core.runtime.statuspatch import has_condition, merge_patch, with_condition


def test_equal_statuses_give_no_patch() -> None:
    status = {"state": "configured", "roles": [{"id": "a"}], "rollup": {"x": True}}
    assert merge_patch(status, dict(status)) is None


def test_patch_sets_changed_keys_removes_gone_ones_and_replaces_lists() -> None:
    old = {"state": "creating", "gone": 1, "nested": {"a": 1, "b": 2}, "roles": [{"id": "a"}]}
    new = {"state": "configured", "nested": {"a": 1, "b": 3}, "roles": [{"id": "b"}]}
    assert merge_patch(old, new) == {
        "state": "configured",
        "gone": None,
        "nested": {"b": 3},
        "roles": [{"id": "b"}],
    }


def test_an_unchanged_condition_keeps_its_transition_time() -> None:
    first = {
        "type": "ApplyFailed",
        "status": "True",
        "reason": "R",
        "message": "m",
        "lastTransitionTime": "t1",
    }
    again = {**first, "lastTransitionTime": "t2"}
    status = with_condition({}, first)
    assert with_condition(status, again) == status
    assert has_condition(status, again)
    changed = {**again, "message": "other"}
    assert with_condition(status, changed)["conditions"] == [changed]
    assert not has_condition(status, changed)
