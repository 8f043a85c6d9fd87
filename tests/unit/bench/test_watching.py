"""The tracker behind every timed wait: when each object first reached the awaited state."""

from __future__ import annotations

from typing import Any

from benchmarks.watching import Tracker, all_done, none_left, pod_ready


def pod(name: str, ready: bool, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-22T08:00:00Z"
    status = "True" if ready else "False"
    return {"metadata": metadata, "status": {"conditions": [{"type": "Ready", "status": status}]}}


def test_each_object_keeps_the_first_time_it_was_done() -> None:
    tracker = Tracker(pod_ready)
    tracker.see("ADDED", pod("a", ready=False), at=1.0)
    tracker.see("MODIFIED", pod("a", ready=True), at=2.0)
    tracker.see("MODIFIED", pod("a", ready=True), at=3.0)
    tracker.see("LISTED", pod("b", ready=True), at=4.0)
    assert tracker.done_at == {("ns", "a"): 2.0, ("ns", "b"): 4.0}
    assert all_done(2)(tracker)
    assert not all_done(3)(tracker)


def test_deleted_objects_no_longer_count() -> None:
    tracker = Tracker(pod_ready)
    tracker.see("ADDED", pod("a", ready=True), at=1.0)
    tracker.see("DELETED", pod("a", ready=True), at=2.0)
    assert tracker.done_now() == 0
    assert none_left(tracker)


def test_a_terminating_pod_is_not_ready() -> None:
    assert pod_ready(pod("a", ready=True))
    assert not pod_ready(pod("a", ready=True, deleting=True))
    assert not pod_ready({"metadata": {"name": "a"}})
