"""Reading the API server's audit log: who asked for what, by verb and resource.

The benchmark control plane audits only the operator's identity at level
Metadata (``UpOptions.audit_users``), omitting the ``RequestReceived`` stage:
a short request leaves one ``ResponseComplete`` event, a watch one
``ResponseStarted`` and, when it ends, one ``ResponseComplete``. Events are
counted once per ``auditID``.

A request is named ``verb resource[/subresource]`` (``patch
kubedirectorclusters/status``, ``create pods/exec``); requests to non-resource
URLs (discovery, ``/version``) are named ``verb <path>``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

#: Verbs that change stored objects.
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
#: Subresources that run something in a container rather than change an object.
EXEC_SUBRESOURCES = frozenset({"exec", "attach"})


class AuditLogError(ValueError):
    """A line of the audit log is not an audit event."""


@dataclass(frozen=True)
class Request:
    """One request as the audit log tells it."""

    audit_id: str
    user: str
    verb: str
    resource: str
    subresource: str
    received: float
    code: int

    @property
    def name(self) -> str:
        """``verb resource[/subresource]``."""
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {what}"

    @property
    def is_exec(self) -> bool:
        """A command run in a container (``pods/exec``), whatever the verb."""
        return self.subresource in EXEC_SUBRESOURCES

    @property
    def is_write(self) -> bool:
        """A request that changes a stored object (execs are counted apart)."""
        return self.verb in WRITE_VERBS and not self.is_exec

    @property
    def is_list(self) -> bool:
        """A LIST (not a watch)."""
        return self.verb == "list"

    @property
    def is_watch(self) -> bool:
        """A watch (long-running)."""
        return self.verb == "watch"


def _timestamp(raw: str) -> float:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def parse_event(line: str) -> Request | None:
    """The request of one audit log line; ``None`` for a blank line.

    Raises :class:`AuditLogError` naming the missing field when the line is
    not an audit event.
    """
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError as error:
        raise AuditLogError(f"not JSON: {error}: {line[:120]!r}") from error
    if not isinstance(event, dict) or event.get("kind") != "Event":
        raise AuditLogError(f"not an audit Event (kind is missing): {line[:120]!r}")
    for field in ("auditID", "verb", "requestURI", "requestReceivedTimestamp"):
        if field not in event:
            raise AuditLogError(f"audit event without {field!r}: {line[:120]!r}")
    reference = event.get("objectRef") or {}
    resource = reference.get("resource") or event["requestURI"].split("?", 1)[0]
    return Request(
        audit_id=event["auditID"],
        user=(event.get("user") or {}).get("username", ""),
        verb=event["verb"],
        resource=resource,
        subresource=reference.get("subresource") or "",
        received=_timestamp(event["requestReceivedTimestamp"]),
        code=int((event.get("responseStatus") or {}).get("code") or 0),
    )


def parse_lines(lines: Iterable[str]) -> list[Request]:
    """Every request in ``lines``, once per audit ID, in the order first seen."""
    seen: dict[str, Request] = {}
    for line in lines:
        request = parse_event(line)
        if request is not None and request.audit_id not in seen:
            seen[request.audit_id] = request
    return list(seen.values())


class AuditLog:
    """An audit log file read from a remembered offset (a phase of a scenario)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        """The current end of the file: requests from now on are after it."""
        return self.path.stat().st_size if self.path.exists() else 0

    def lines_since(self, offset: int) -> Iterator[str]:
        """Complete lines written after ``offset``."""
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(offset)
            for raw in log:
                if raw.endswith(b"\n"):
                    yield raw.decode()

    def requests_since(self, offset: int, user: str | None = None) -> list[Request]:
        """Requests logged after ``offset`` (by ``user`` only, when given)."""
        requests = parse_lines(self.lines_since(offset))
        return [r for r in requests if user is None or r.user == user]


@dataclass(frozen=True)
class Tally:
    """Requests of a phase counted by name, with the totals the targets speak of."""

    by_request: dict[str, int]
    writes: int
    lists: int
    execs: int
    watches: int
    total: int

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form (names sorted)."""
        return {
            "writes": self.writes,
            "lists": self.lists,
            "execs": self.execs,
            "watches": self.watches,
            "total": self.total,
            "by_request": dict(sorted(self.by_request.items())),
        }


def tally(requests: Iterable[Request]) -> Tally:
    """Count requests by name, and the writes, lists, execs and watches among them."""
    requests = list(requests)
    return Tally(
        by_request=dict(Counter(r.name for r in requests)),
        writes=sum(r.is_write for r in requests),
        lists=sum(r.is_list for r in requests),
        execs=sum(r.is_exec for r in requests),
        watches=sum(r.is_watch for r in requests),
        total=len(requests),
    )


def idle_since(
    requests: Iterable[Request], start: float, now: float, quiet: float = 2.0
) -> float | None:
    """When the requester went idle after ``start``: its last request before ``quiet`` s of none.

    Watches do not count (they stay open while idle). Returns the time of the
    last request before the first gap of at least ``quiet`` seconds (``start``
    itself when the gap opens at once), or ``None`` when no such gap has
    happened by ``now``.
    """
    times = sorted(r.received for r in requests if not r.is_watch and r.received >= start)
    last = start
    for moment in times:
        if moment - last >= quiet:
            return last
        last = moment
    return last if now - last >= quiet else None
