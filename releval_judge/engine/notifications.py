"""Notifications between replicas: LISTEN on a dedicated connection (not a pooled one).

Two channels: ``releval_cancel`` (payload: a judging run id; sent by the cancel statement
itself, delivered when it commits) and ``releval_work`` (a run was queued or a lease given
back: claim now). A lost connection is reconnected with backoff; a notification missed
meanwhile only delays: the heartbeat notices a cancelled run, the claim loop free runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from releval_judge.store.database import DATABASE_UNAVAILABLE

log = structlog.get_logger(__name__)

CANCEL_CHANNEL = "releval_cancel"
WORK_CHANNEL = "releval_work"
CONNECT_ERRORS: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)


class Listener:
    """Calls ``on_cancel(run_id)`` and ``on_work()`` as notifications arrive."""

    def __init__(
        self,
        database_url: str,
        *,
        on_cancel: Callable[[str], None],
        on_work: Callable[[], None],
    ) -> None:
        self.database_url = database_url
        self.on_cancel = on_cancel
        self.on_work = on_work
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="runner-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        if channel == CANCEL_CHANNEL:
            self.on_cancel(str(payload))
        else:
            self.on_work()

    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                conn = await asyncpg.connect(self.database_url)
            except CONNECT_ERRORS as exc:
                log.warning("listener_not_connected", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                await conn.add_listener(CANCEL_CHANNEL, self._notified)
                await conn.add_listener(WORK_CHANNEL, self._notified)
                delay = 0.5
                self.connected.set()
                self.on_work()  # whatever was queued while not listening
                await lost.wait()
                log.warning("listener_connection_lost")
            except CONNECT_ERRORS as exc:
                log.warning("listener_failed", error=str(exc))
            finally:
                self.connected.clear()
                if not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
