"""Counting the operator's requests from a real audit log of the benchmark control plane."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.audit import AuditLog, AuditLogError, idle_since, parse_event, parse_lines, tally

SAMPLE = Path(__file__).parent / "data" / "audit-sample.log"
OPERATOR = "system:serviceaccount:kubedirector:operator"


def sample_lines() -> list[str]:
    return SAMPLE.read_text().splitlines()


def test_requests_are_named_by_verb_resource_and_subresource() -> None:
    names = [request.name for request in parse_lines(sample_lines())]
    assert names == [
        "get /api",
        "list kubedirectorclusters",
        "list kubedirectorclusters",
        "watch pods",
        "patch kubedirectorclusters/status",
        "patch kubedirectorclusters/status",
        "create events",
        "patch statefulsets",
        "get pods/exec",
        "delete statefulsets",
    ]


def test_a_request_logged_at_two_stages_counts_once() -> None:
    lines = sample_lines()
    exec_lines = [line for line in lines if "/exec?" in line]
    assert len(exec_lines) == 2  # ResponseStarted and ResponseComplete of one exec
    requests = parse_lines(lines)
    assert len(requests) == len(lines) - 1
    assert sum(r.is_exec for r in requests) == 1


def test_tally_separates_writes_lists_execs_and_watches() -> None:
    counted = tally(parse_lines(sample_lines()))
    # 2 status patches, 1 Event, 1 StatefulSet patch, 1 delete; the exec is not a write.
    assert counted.writes == 5
    assert counted.lists == 2
    assert counted.execs == 1
    assert counted.watches == 1
    assert counted.total == 10
    assert counted.to_json()["by_request"] == {
        "create events": 1,
        "delete statefulsets": 1,
        "get /api": 1,
        "get pods/exec": 1,
        "list kubedirectorclusters": 2,
        "patch kubedirectorclusters/status": 2,
        "patch statefulsets": 1,
        "watch pods": 1,
    }


def test_requests_since_an_offset_and_by_user(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    assert log.offset() == 0
    assert log.requests_since(0) == []
    lines = sample_lines()
    log.path.write_text("\n".join(lines[:3]) + "\n")
    middle = log.offset()
    with log.path.open("a") as handle:
        handle.write("\n".join(lines[3:]) + "\n")
        handle.write(lines[0][:50])  # a line still being written is not read
    later = log.requests_since(middle, OPERATOR)
    assert [r.name for r in later][:2] == ["watch pods", "patch kubedirectorclusters/status"]
    assert len(later) == 7
    assert log.requests_since(middle, "someone-else") == []


def test_idle_after_the_last_request_before_a_quiet_gap() -> None:
    requests = parse_lines(sample_lines())
    start = min(r.received for r in requests)
    # The sample's requests come in two bursts: ~43.5-44.1 s and ~47.5-47.8 s.
    idle = idle_since(requests, start, now=start + 60, quiet=2.0)
    assert idle == pytest.approx(1795333044.051946)
    # With a longer quiet period the first gap (3.5 s) is not enough.
    idle = idle_since(requests, start, now=start + 60, quiet=5.0)
    assert idle == pytest.approx(1795333047.808075)
    # Not idle yet when "now" is right after the last request.
    assert idle_since(requests, start, now=1795333048.5, quiet=5.0) is None


def test_watches_do_not_keep_the_requester_busy() -> None:
    requests = [r for r in parse_lines(sample_lines()) if r.is_watch]
    start = requests[0].received - 0.1
    assert idle_since(requests, start, now=start + 3, quiet=2.0) == start


def test_a_line_that_is_not_an_audit_event_is_named() -> None:
    assert parse_event("   ") is None
    with pytest.raises(AuditLogError, match="not JSON"):
        parse_event("{broken")
    with pytest.raises(AuditLogError, match="not an audit Event"):
        parse_event('{"kind": "Pod"}')
    with pytest.raises(AuditLogError, match="'verb'"):
        parse_event(
            '{"kind": "Event", "auditID": "x", "requestURI": "/api",'
            ' "requestReceivedTimestamp": "2026-11-22T07:37:23.66Z"}'
        )
