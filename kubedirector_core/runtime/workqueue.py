"""A coalescing work queue: at most one reconcile per cluster at a time.

Marking a cluster dirty any number of times before a worker takes it yields
one reconcile. A cluster marked while its reconcile runs is reconciled once
more afterwards (level-triggered: the second run sees everything that
happened during the first). Delayed marks (``requeue_after``, back-off after
an error) keep only the earliest deadline. The semantics are client-go's
workqueue, on asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Keys waiting for a worker, keys being worked on, and keys to retry later."""

    def __init__(self) -> None:
        self._waiting: dict[K, None] = {}  # insertion-ordered set
        self._running: set[K] = set()
        self._dirty_while_running: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._wakeup = asyncio.Condition()
        self._closed = False

    def mark(self, key: K) -> None:
        """Ask for a reconcile of ``key`` as soon as a worker is free (no-op if already asked)."""
        if key in self._running:
            self._dirty_while_running.add(key)
            return
        if key in self._waiting:
            return
        self._waiting[key] = None
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
        self._waiting.pop(key, None)
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
            del self._waiting[key]
            self._running.add(key)
            return key

    def done(self, key: K) -> None:
        """The worker finished ``key``; requeue it if it was marked meanwhile."""
        self._running.discard(key)
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
