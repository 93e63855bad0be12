"""The life of a provider batch, shared by the OpenAI Batch API and Anthropic Message
Batches: when its requests run, when it ends and how.

Nothing runs in the background. A batch's state is computed from the clock whenever it is
read (:func:`progress`, pure), and the requests that are due by then run at that moment,
in input order, through the simulator's own call path (:meth:`BatchStore.advance`).

Timeline of a batch created at ``t0`` (``c`` = ``batch_completion_s``):

* OpenAI: ``validating`` until ``t0 + 0.1c``; ``in_progress`` while the requests complete
  evenly until ``t0 + 0.9c``; ``finalizing``; ``completed`` at ``t0 + c``. An invalid input
  file makes it ``failed`` at ``t0 + 0.1c``.
* Anthropic: ``in_progress`` while the requests complete evenly until ``t0 + c``; then
  ended.

A batch not done at ``t0 + batch_expiry_s`` ends ``expired`` then, the requests not run by
then expired. A cancel stops the requests at once; the batch is ``cancelling`` for
``batch_cancel_s``, then ``cancelled`` (the requests not run are cancelled).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from releval_judge.sim.config import SimConfig

Provider = Literal["openai", "anthropic"]
BatchStatus = Literal[
    "validating",
    "failed",
    "in_progress",
    "finalizing",
    "completed",
    "expired",
    "cancelling",
    "cancelled",
]
ENDED: frozenset[BatchStatus] = frozenset({"failed", "completed", "expired", "cancelled"})

_VALIDATING_SHARE = 0.1
_FINALIZING_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a batch, left alone, validates, runs its requests and completes."""

    created_at: float
    runs_from: float
    runs_until: float
    completed_at: float
    expires_at: float


def schedule(provider: Provider, created_at: float, config: SimConfig) -> Schedule:
    span = config.batch_completion_s
    if provider == "openai":
        runs_from = created_at + _VALIDATING_SHARE * span
        runs_until = created_at + (1 - _FINALIZING_SHARE) * span
    else:
        runs_from, runs_until = created_at, created_at + span
    return Schedule(
        created_at=created_at,
        runs_from=runs_from,
        runs_until=runs_until,
        completed_at=created_at + span,
        expires_at=created_at + config.batch_expiry_s,
    )


@dataclass(frozen=True, slots=True)
class Progress:
    """A batch's state at one moment: its status, how many requests have run (the first
    ``ran`` in input order), and the times of the steps it has taken."""

    status: BatchStatus
    ran: int
    in_progress_at: float | None = None
    finalizing_at: float | None = None
    cancelling_at: float | None = None
    ended_at: float | None = None


def progress(
    plan: Schedule,
    total: int,
    now: float,
    *,
    valid: bool = True,
    cancelled_at: float | None = None,
    cancel_s: float = 0.0,
) -> Progress:
    """The state at ``now`` of a batch of ``total`` requests following ``plan``,
    cancelled at ``cancelled_at`` if at all (before it ended)."""

    def ran_by(moment: float) -> int:
        if not valid or moment < plan.runs_from:
            return 0
        span = plan.runs_until - plan.runs_from
        if moment >= plan.runs_until or span <= 0:
            return total
        return min(total, math.floor(total * (moment - plan.runs_from) / span))

    def started(moment: float) -> float | None:
        return plan.runs_from if valid and moment >= plan.runs_from else None

    if cancelled_at is not None:
        ended = cancelled_at + cancel_s
        return Progress(
            status="cancelled" if now >= ended else "cancelling",
            ran=ran_by(cancelled_at),
            in_progress_at=started(cancelled_at),
            cancelling_at=cancelled_at,
            ended_at=ended if now >= ended else None,
        )
    if not valid and now >= plan.runs_from:
        return Progress(status="failed", ran=0, ended_at=plan.runs_from)
    if plan.expires_at < plan.completed_at and now >= plan.expires_at:
        finalizing = plan.runs_until if plan.expires_at >= plan.runs_until else None
        return Progress(
            status="expired",
            ran=ran_by(plan.expires_at),
            in_progress_at=started(plan.expires_at),
            finalizing_at=finalizing,
            ended_at=plan.expires_at,
        )
    if now < plan.runs_from:
        return Progress(status="validating", ran=0)
    if now < plan.runs_until:
        return Progress(status="in_progress", ran=ran_by(now), in_progress_at=plan.runs_from)
    if now < plan.completed_at:
        return Progress(
            status="finalizing",
            ran=total,
            in_progress_at=plan.runs_from,
            finalizing_at=plan.runs_until,
        )
    return Progress(
        status="completed",
        ran=total,
        in_progress_at=plan.runs_from,
        finalizing_at=plan.runs_until,
        ended_at=plan.completed_at,
    )


@dataclass(frozen=True, slots=True)
class BatchRequest:
    custom_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class RequestResult:
    """The answer a request got: the status and body the live route would have sent."""

    status: int
    body: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.status == 200


#: Runs request number ``index`` (0-based, input order) of a batch of that provider.
RunRequest = Callable[[Provider, int, BatchRequest], RequestResult]


@dataclass(slots=True)
class Batch:
    """One batch: what was asked, what has run, and whether a cancel came.

    ``errors`` (OpenAI) are the input file's validation errors; a batch with any fails.
    ``extra`` holds what only one provider's API shows (metadata, file ids)."""

    id: str
    provider: Provider
    plan: Schedule
    requests: list[BatchRequest]
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancelled_at: float | None = None
    results: list[RequestResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    state: Progress = field(default_factory=lambda: Progress(status="validating", ran=0))

    @property
    def ended(self) -> bool:
        return self.state.status in ENDED


class BatchStore:
    """Every batch of one simulator, in creation order; the requests run on reads."""

    def __init__(self, config: SimConfig, run: RunRequest) -> None:
        self._config = config
        self._run = run
        self._batches: dict[str, Batch] = {}

    def add(self, batch: Batch, now: float) -> Batch:
        self._batches[batch.id] = batch
        return self.advance(batch, now)

    def get(self, batch_id: str, provider: Provider, now: float) -> Batch | None:
        batch = self._batches.get(batch_id)
        if batch is None or batch.provider != provider:
            return None
        return self.advance(batch, now)

    def newest_first(self, provider: Provider | None, now: float) -> Iterator[Batch]:
        for batch in reversed(list(self._batches.values())):
            if provider is None or batch.provider == provider:
                yield self.advance(batch, now)

    def cancel(self, batch: Batch, now: float) -> Batch:
        """Cancel a batch that has not ended (the caller checks); a second cancel is a no-op."""
        if batch.cancelled_at is None:
            self.advance(batch, now)
            batch.cancelled_at = now
        return self.advance(batch, now)

    def advance(self, batch: Batch, now: float) -> Batch:
        """Bring ``batch`` to ``now``: its state, and the requests due by then run."""
        batch.state = progress(
            batch.plan,
            len(batch.requests),
            now,
            valid=not batch.errors,
            cancelled_at=batch.cancelled_at,
            cancel_s=self._config.batch_cancel_s,
        )
        for index in range(len(batch.results), batch.state.ran):
            batch.results.append(self._run(batch.provider, index, batch.requests[index]))
        return batch
