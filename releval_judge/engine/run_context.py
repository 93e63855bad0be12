"""What both ways of delivering a judging run share: who holds the run, its pending
candidates in batches (each prepared once with its fingerprint; those an earlier judgment
answers already are written as reused, never batched: ``reuse``), and its writes.

Each batch's judgments, failures and counter increments are written in one transaction
(with the other batches that waited for the run's previous write: ``engine.writes``), so a
crash never leaves counters ahead of rows; every write checks the run's lease.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar
from uuid import UUID

import structlog

from releval_judge.engine.batching import BatchBuilder
from releval_judge.engine.budget import CostBudget
from releval_judge.engine.control import RunControl
from releval_judge.engine.database_retry import DatabaseUnavailable, with_database_retry
from releval_judge.engine.errors import RunFailed
from releval_judge.engine.fingerprints import Fingerprinter, Prepared
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.engine.writes import GroupWriter
from releval_judge.errors import EvaluationRunLocked, LeaseLost
from releval_judge.store.reuse import fingerprint_prefix
from releval_judge.store.store import (
    ActiveRun,
    BatchOutcome,
    JudgmentWrite,
    Lease,
    PendingCandidate,
    Store,
)
from releval_judge.telemetry import Metrics

log = structlog.get_logger(__name__)
T = TypeVar("T")

PAGE_SIZE = 1000
#: A run holds in memory the fingerprints (8 bytes of each) that earlier runs with its
#: settings judged, up to this many (about 5 MB), and looks up in the database only the
#: candidates one of them may answer: a run with nothing to reuse then makes no look-up.
#: Over this many, it looks every page up (docs/decisions.md "Reuse").
KNOWN_FINGERPRINTS_MAX = 100_000


class RunContext:
    """One claimed run as its deliveries see it (`live_delivery`, `batch_delivery`)."""

    def __init__(
        self,
        active: ActiveRun,
        *,
        store: Store,
        control: RunControl,
        metrics: Metrics,
        templates: TemplateRenderer,
    ) -> None:
        assert active.lease is not None, "a run is judged only by the holder of its lease"
        self.lease: Lease = active.lease
        self.run = active.run
        self.request_id = active.request_id
        self.seq = active.seq
        self.config = active.config
        self.store = store
        self.control = control
        self.metrics = metrics
        self.templates = templates
        self.budget = _budget(active)
        self.fingerprinter: Fingerprinter | None = None
        """Set once the run's template and scale are known (before any batch is read), by
        :meth:`fingerprint_with`."""
        self._may_reuse = False
        # The known fingerprints' prefixes (None: too many, every page is looked up).
        self._known: frozenset[int] | None = None
        self._writer = GroupWriter(self._record, on_written=self._count_statement)

    @property
    def run_id(self) -> str:
        return self.run.id

    async def with_db(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """`with_database_retry`, a database lost for good failing the run."""
        try:
            return await with_database_retry(operation, what=what)
        except DatabaseUnavailable as exc:
            raise RunFailed(str(exc)) from exc

    # --- reading -------------------------------------------------------------------------

    async def candidate_batches(self) -> AsyncIterator[list[Prepared]]:
        """Batches in (query, rank) order. The next page is read, fingerprinted and (with
        reuse) answered from earlier judgments while this one is judged: a page's
        candidates that an earlier judgment answers are written as reused, its batches
        are made of the rest."""
        builder: BatchBuilder[Prepared] = BatchBuilder(self.config.batch_size)
        next_page: asyncio.Task[_Page] | None = asyncio.create_task(
            self._page(None), name=f"judging-run-{self.run_id}-page"
        )
        try:
            while next_page is not None and not self.control.halt.is_set():
                page = await next_page
                next_page = None
                if page.after is not None:
                    next_page = asyncio.create_task(
                        self._page(page.after), name=f"judging-run-{self.run_id}-page"
                    )
                for candidate in page.to_judge:
                    closed = builder.add(candidate)
                    if closed is not None:
                        yield closed
        finally:
            if next_page is not None:
                next_page.cancel()
                await asyncio.gather(next_page, return_exceptions=True)
        rest = builder.flush()
        if rest is not None:
            yield rest

    async def _page(self, after: tuple[str, int, UUID] | None) -> _Page:
        candidates = await self.with_db(
            functools.partial(
                self.store.pending_candidates,
                self.run.evaluation_run_id,
                self.run_id,
                after=after,
                limit=PAGE_SIZE,
            ),
            "reading candidates",
        )
        last = candidates[-1] if len(candidates) == PAGE_SIZE else None
        return _Page(
            to_judge=await self._unanswered(candidates),
            after=None if last is None else (last.query_id, last.rank, last.id),
        )

    async def fingerprint_with(self, fingerprinter: Fingerprinter) -> None:
        """Fingerprint the run's judgments with ``fingerprinter``, and record its settings'
        hash: with reuse on, the run looks earlier judgments up only when another run ever
        had the same settings (else none can match: a new judge or template pays no
        look-up, one per page of candidates)."""
        self.fingerprinter = fingerprinter
        seen = await self.with_db(
            functools.partial(
                self.store.record_settings_fingerprint,
                self.run_id,
                fingerprinter.settings_digest,
            ),
            "recording the run's settings",
        )
        self._may_reuse = self.run.reuse == "fingerprint" and seen
        if self._may_reuse:
            # Judgments other runs write from now on are seen only when there are too many
            # to hold (then every page is looked up): a run takes what was judged before
            # it started.
            self._known = await self.with_db(
                functools.partial(
                    self.store.known_fingerprint_prefixes,
                    self.run_id,
                    fingerprinter.settings_digest,
                    limit=KNOWN_FINGERPRINTS_MAX,
                ),
                "reading the fingerprints earlier runs judged",
            )

    def _fingerprints(self) -> Fingerprinter:
        assert self.fingerprinter is not None, "the run's fingerprinter is set before reading"
        return self.fingerprinter

    async def _unanswered(self, page: Sequence[PendingCandidate]) -> list[Prepared]:
        """`page` prepared; with reuse, without those an earlier judgment answered (written
        here as this run's, with ``reused_from``: no call, no tokens)."""
        prepared = await self._fingerprints().prepare_all(page)
        if not self._may_reuse or not prepared or self.control.halt.is_set():
            return prepared
        known = self._known
        candidates = (
            prepared
            if known is None
            else [p for p in prepared if fingerprint_prefix(p.fingerprint) in known]
        )
        if not candidates:
            return prepared
        found = await self.with_db(
            functools.partial(
                self.store.reusable_judgments,
                [p.fingerprint for p in candidates],
                judging_run_id=self.run_id,
            ),
            "looking up reusable judgments",
        )
        if not found:
            return prepared
        reused: list[JudgmentWrite] = []
        rest: list[Prepared] = []
        for p in prepared:
            hit = found.get(p.fingerprint)
            if hit is None:
                rest.append(p)
                continue
            reused.append(
                JudgmentWrite(
                    candidate_id=p.id,
                    grade=hit.grade,
                    reasoning=hit.reasoning,
                    fingerprint=p.fingerprint,
                    reused_from=hit.source_run,
                )
            )
        await self.write(
            BatchOutcome(judgments=reused, failures=[], input_tokens=0, output_tokens=0)
        )
        log.debug("judgments_reused", reused=len(reused), to_judge=len(rest))
        return rest

    # --- writing -------------------------------------------------------------------------

    async def write(self, outcome: BatchOutcome) -> None:
        """Write a batch, merged with the run's other batches that wait for the database
        meanwhile (``engine.writes``; never half-written, also by a shutdown); a lost
        database is waited for (see ``with_database_retry``) before the run fails.
        Judgments without a fingerprint (a provider batch's answers) get theirs here."""
        try:
            outcome = await self._fingerprinted(outcome)
            await self._writer.write(outcome)
        except EvaluationRunLocked:
            self.control.stop(
                "failed",
                f"evaluation run {self.run.evaluation_run_id} was locked during the judging "
                "run; a locked run rejects every judgment change (unlock it and start a "
                "new judging run to fill in the gaps)",
            )
            return
        except LeaseLost:
            # Another replica claimed the run: this batch is its to judge again.
            log.warning("batch_not_written", reason="lease lost", epoch=self.lease.epoch)
            self.control.stop("lease_lost")
            return
        except DatabaseUnavailable as exc:
            self.control.stop("failed", str(exc))
            return
        self._count_outcome(outcome)

    async def _fingerprinted(self, outcome: BatchOutcome) -> BatchOutcome:
        """`outcome` with the fingerprint of each judgment, read from its candidate when the
        judgment came without (a provider batch's answers, perhaps read after a restart)."""
        missing = [j.candidate_id for j in outcome.judgments if j.fingerprint is None]
        if not missing or self.fingerprinter is None:
            return outcome
        candidates = await with_database_retry(
            functools.partial(self.store.candidates_by_id, self.run.evaluation_run_id, missing),
            what="reading candidates to fingerprint",
        )
        prepared = await self.fingerprinter.prepare_all(candidates)
        prints = {p.id: p.fingerprint for p in prepared}
        return dataclasses.replace(
            outcome,
            judgments=[
                j
                if j.fingerprint is not None
                else dataclasses.replace(j, fingerprint=prints.get(j.candidate_id))
                for j in outcome.judgments
            ],
        )

    async def _record(self, outcome: BatchOutcome) -> None:
        """One statement: `outcome` (often several batches merged) and the run's counters."""
        await with_database_retry(
            lambda: self.store.record_batch(
                evaluation_run_id=self.run.evaluation_run_id,
                judging_run_id=self.run_id,
                run_seq=self.seq,
                judge_name=self.config.name,
                outcome=outcome,
                lease=self.lease,
            ),
            what="writing a batch",
        )

    def _count_statement(self, batches: int) -> None:
        self.metrics.batch_write_statements.inc()
        self.metrics.batches_written.inc(batches)

    def _count_outcome(self, outcome: BatchOutcome) -> None:
        metrics = self.metrics
        if outcome.judgments:
            metrics.candidates.labels("judged").inc(len(outcome.judgments))
        if outcome.failures:
            metrics.candidates.labels("failed").inc(len(outcome.failures))
        metrics.tokens.labels("input").inc(outcome.input_tokens)
        metrics.tokens.labels("output").inc(outcome.output_tokens)


@dataclasses.dataclass(frozen=True, slots=True)
class _Page:
    """A page of pending candidates: those left to judge, and the key after which the next
    page starts (None: this was the last)."""

    to_judge: list[Prepared]
    after: tuple[str, int, UUID] | None


def _budget(active: ActiveRun) -> CostBudget | None:
    """The run's cost limit, with what it has cost so far (a resumed run), or None."""
    prices = active.config.prices
    if active.run.max_cost is None or prices is None:
        return None
    spent = active.run.cost.total if active.run.cost is not None else 0.0
    return CostBudget(
        limit=active.run.max_cost,
        prices=prices,
        factor=active.config.delivery_factor(active.run.delivery),
        spent=spent,
    )
