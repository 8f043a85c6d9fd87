"""Waiting on the API server with LIST + WATCH, timing the moment a condition holds.

A benchmark's clock stops when the runner *sees* the state it waits for; a
watch sees it within milliseconds, where polling would add up to a whole
interval (and load the API server). :class:`Tracker` keeps the objects of one
collection and, for each, the first time it satisfied ``done``; the wait ends
when ``until(tracker)`` holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from kubedirector_core.runtime.kubeapi import KubeApi

Key = tuple[str, str]
Manifest = dict[str, Any]


def key_of(body: Manifest) -> Key:
    """``(namespace, name)`` of an object."""
    metadata = body["metadata"]
    return (metadata.get("namespace") or "", metadata["name"])


@dataclass
class Tracker:
    """The objects of one collection and when each first satisfied ``done``."""

    done: Callable[[Manifest], bool]
    objects: dict[Key, Manifest] = field(default_factory=dict)
    done_at: dict[Key, float] = field(default_factory=dict)

    def see(self, event: str, body: Manifest, at: float) -> None:
        """Take one event (``ADDED``, ``MODIFIED``, ``DELETED`` or ``LISTED``) seen at ``at``."""
        key = key_of(body)
        if event == "DELETED":
            self.objects.pop(key, None)
            return
        self.objects[key] = body
        if key not in self.done_at and self.done(body):
            self.done_at[key] = at

    def done_now(self) -> int:
        """How many present objects satisfy ``done`` now."""
        return sum(1 for key in self.objects if key in self.done_at)


class WaitTimeout(TimeoutError):
    """The condition did not hold in time; the message says what was awaited and how far it got."""


def _watch_lines(api: KubeApi, path: str, query: Sequence[tuple[str, str]]) -> Iterator[bytes]:
    configuration = api.api_client.configuration
    url = f"{configuration.host}{path}?{urlencode(list(query))}"
    headers = {"Accept": "application/json"}
    for setting in configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    response = api.api_client.rest_client.pool_manager.request(
        "GET",
        url,
        headers=headers,
        preload_content=False,
        timeout=urllib3.Timeout(connect=10, read=90),
        retries=False,
    )
    try:
        if response.status != 200:
            raise RuntimeError(f"watch {path}: HTTP {response.status}")
        buffer = b""
        for chunk in response.stream(65536):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield line
    finally:
        response.release_conn()


def wait(
    api: KubeApi,
    path: str,
    tracker: Tracker,
    until: Callable[[Tracker], bool],
    *,
    what: str,
    timeout: float,
    label_selector: str | None = None,
) -> float:
    """LIST ``path`` then WATCH it until ``until(tracker)``; return ``time.monotonic()`` then.

    Raises :class:`WaitTimeout` after ``timeout`` seconds, naming ``what`` and
    how many objects were done.
    """
    deadline = time.monotonic() + timeout
    selector = [("labelSelector", label_selector)] if label_selector else []
    while True:
        listed = api.request("GET", path, query=selector)
        now = time.monotonic()
        tracker.objects.clear()
        for item in listed.get("items") or []:
            tracker.see("LISTED", item, now)
        if until(tracker):
            return now
        version = listed["metadata"]["resourceVersion"]
        expired = False
        while not expired:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"timed out after {timeout:.0f}s waiting for {what} "
                    f"({tracker.done_now()} of {len(tracker.objects)} objects done)"
                )
            query = [
                *selector,
                ("watch", "1"),
                ("resourceVersion", version),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", str(max(1, min(int(remaining) + 1, 60)))),
            ]
            for line in _watch_lines(api, path, query):
                event = orjson.loads(line)
                kind, body = event["type"], event["object"]
                if kind == "ERROR":
                    expired = True  # 410 Gone: list again
                    break
                version = body["metadata"].get("resourceVersion", version)
                if kind == "BOOKMARK":
                    continue
                tracker.see(kind, body, time.monotonic())
                if until(tracker):
                    return time.monotonic()
                if time.monotonic() > deadline:
                    break


def all_done(expected: int) -> Callable[[Tracker], bool]:
    """Holds when at least ``expected`` present objects are done."""
    return lambda tracker: tracker.done_now() >= expected


def none_left(tracker: Tracker) -> bool:
    """Holds when the collection is empty."""
    return not tracker.objects


def pod_ready(pod: Manifest) -> bool:
    """The pod's Ready condition is True (and it is not being deleted)."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
