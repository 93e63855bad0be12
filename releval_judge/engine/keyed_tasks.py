"""Background tasks kept by key, at most one per key, until a shutdown (panel runs' watchers,
audits): what both runners need of their tasks, written once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class KeyedTasks:
    """At most one running task per key; none started once :meth:`shutdown` has begun."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def start(self, key: str, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Start ``work()`` for ``key`` unless a task of ``key`` runs or the shutdown began."""
        if self._stopping or key in self._tasks:
            return
        task = asyncio.create_task(work(), name=name)
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    def cancel(self, key: str) -> None:
        """Cancel ``key``'s task, if it runs."""
        task = self._tasks.get(key)
        if task is not None:
            task.cancel()

    def keys(self) -> list[str]:
        """The keys whose task still runs."""
        return list(self._tasks)

    def __contains__(self, key: str) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    async def shutdown(self) -> None:
        """Start nothing more; cancel every running task and wait for them to end."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
