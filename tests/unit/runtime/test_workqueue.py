"""One reconcile per cluster at a time; marks made meanwhile coalesce into one more."""

from __future__ import annotations

import asyncio

from kubedirector_core.runtime.workqueue import WorkQueue


def test_marks_coalesce_and_a_running_key_is_not_handed_out_twice() -> None:
    async def scenario() -> list[str | None]:
        queue: WorkQueue[str] = WorkQueue()
        for _ in range(3):
            queue.mark("a")
        queue.mark("b")
        taken = [await queue.take(), await queue.take()]
        assert len(queue) == 0
        queue.mark("a")  # while "a" runs
        assert len(queue) == 0
        queue.done("a")
        taken.append(await queue.take())
        queue.done("a")
        queue.done("b")
        await queue.close()
        taken.append(await queue.take())
        return taken

    assert asyncio.run(scenario()) == ["a", "b", "a", None]


def test_delayed_marks_keep_the_earliest_deadline_and_forget_cancels() -> None:
    async def scenario() -> tuple[str | None, bool]:
        queue: WorkQueue[str] = WorkQueue()
        queue.mark_later("a", 5.0)
        queue.mark_later("a", 0.01)
        key = await asyncio.wait_for(queue.take(), timeout=2)
        queue.done("a")
        queue.mark_later("a", 0.01)
        queue.forget("a")
        await asyncio.sleep(0.05)
        busy = queue.is_busy("a")
        await queue.close()
        return key, busy

    assert asyncio.run(scenario()) == ("a", False)
