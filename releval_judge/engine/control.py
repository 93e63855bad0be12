"""How a judging run is halted: one object shared by the runner and the run's task."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from releval_judge.engine.slots import HaltableSemaphore

# lease_lost: another replica holds the run now (or this one could not renew its lease in
# time); this replica stops its calls and leaves the run to the holder.
HaltReason = Literal["cancelled", "failed", "shutdown", "lease_lost"]


@dataclass
class RunControl:
    """Shared between the runner (cancel, shutdown) and the run's task."""

    halt: asyncio.Event = field(default_factory=asyncio.Event)
    reason: HaltReason | None = None
    error: str | None = None

    slots: list[HaltableSemaphore] = field(default_factory=list)

    def stop(self, reason: HaltReason, error: str | None = None) -> None:
        """The first reason wins: a run that failed stays failed when cancelled later."""
        if self.reason is None:
            self.reason = reason
            self.error = error
        self.halt.set()
        for semaphore in self.slots:
            semaphore.halt()
