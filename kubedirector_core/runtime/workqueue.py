"""A coalescing work queue: at most one reconcile per cluster at a time.

Marking a cluster dirty any number of times before a worker takes it yields
one reconcile. A cluster marked while its reconcile runs is reconciled once
more afterwards (level-triggered: the second run sees everything that
happened during the first). Delayed marks (``requeue_after``, back-off after
an error) keep only the earliest deadline. The semantics are client-go's
workqueue, on asyncio, and so are its metrics (see :class:`QueueObserver`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)


class QueueObserver(Protocol):
    """Told what the queue does, for metrics (client-go's ``workqueue_*`` series)."""

    def added(self) -> None:
        """A key was marked that was not already waiting or marked."""

    def taken(self, waited: float) -> None:
        """A worker took a key that waited ``waited`` seconds since it was marked."""

    def finished(self, worked: float) -> None:
        """A worker was done with a key it held ``worked`` seconds."""

    def depth(self, waiting: int) -> None:
        """``waiting`` keys now wait for a worker."""


class WorkQueue(Generic[K]):
    """Keys waiting for a worker, keys being worked on, and keys to retry later."""

    def __init__(self, observer: QueueObserver | None = None) -> None:
        self._observer = observer
        self._waiting: dict[K, float] = {}  # insertion-ordered set, with when each was marked
        self._taken_at: dict[K, float] = {}
        self._running: set[K] = set()
        self._dirty_while_running: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._wakeup = asyncio.Condition()
        self._closed = False

    def mark(self, key: K) -> None:
        """Ask for a reconcile of ``key`` as soon as a worker is free (no-op if already asked)."""
        if key in self._running:  # counted as added once it waits again (done())
            self._dirty_while_running.add(key)
            return
        if key in self._waiting:
            return
        self._waiting[key] = time.monotonic()
        if self._observer is not None:
            self._observer.added()
            self._observer.depth(len(self._waiting))
        asyncio.get_running_loop().create_task(self._notify())

    def mark_later(self, key: K, seconds: float) -> None:
        """Ask for a reconcile of ``key`` in ``seconds`` (an earlier pending deadline wins)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= deadline:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(deadline, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.mark(key)

    def forget(self, key: K) -> None:
        """Drop every pending request for ``key`` (its cluster is gone)."""
        if self._waiting.pop(key, None) is not None and self._observer is not None:
            self._observer.depth(len(self._waiting))
        self._dirty_while_running.discard(key)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def _notify(self) -> None:
        async with self._wakeup:
            self._wakeup.notify()

    async def take(self) -> K | None:
        """Wait for a key no other worker holds; ``None`` once the queue is closed."""
        async with self._wakeup:
            while not self._waiting and not self._closed:
                await self._wakeup.wait()
            if self._closed:
                return None
            key = next(iter(self._waiting))
            marked = self._waiting.pop(key)
            self._running.add(key)
            self._taken_at[key] = now = time.monotonic()
            if self._observer is not None:
                self._observer.taken(now - marked)
                self._observer.depth(len(self._waiting))
            return key

    def done(self, key: K) -> None:
        """The worker finished ``key``; requeue it if it was marked meanwhile."""
        self._running.discard(key)
        taken_at = self._taken_at.pop(key, None)
        if taken_at is not None and self._observer is not None:
            self._observer.finished(time.monotonic() - taken_at)
        if key in self._dirty_while_running:
            self._dirty_while_running.discard(key)
            self.mark(key)

    async def close(self) -> None:
        """Wake every waiting worker with ``None`` and cancel the timers."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        async with self._wakeup:
            self._wakeup.notify_all()

    def __len__(self) -> int:
        return len(self._waiting)

    def is_busy(self, key: K) -> bool:
        """True while ``key`` waits or runs."""
        return key in self._waiting or key in self._running
