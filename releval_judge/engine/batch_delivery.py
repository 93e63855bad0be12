"""Batch delivery: a judging run sent through the provider's batch API.

The run's candidates are planned into requests exactly as live calls would be (the same
batches of candidates, the same prompt, the same request body) and written to provider
batches of at most the provider's limits. Each provider batch is recorded with its requests
and candidates before it is submitted, and its provider id the moment the provider accepts
it (see `store.provider_batches`); then the run polls until the provider has ended every
batch, and reads the results: each request's answer is parsed and written as a live call's
would be, a request the provider errored becomes per-candidate failures with the provider's
message, an expired one per-candidate failures saying so.

A restart resumes: batches that were never submitted are forgotten (their candidates are
planned again); a batch whose submission may or may not have reached the provider is looked
for at the provider before anything is submitted; submitted batches are polled again;
results already written are not written twice (`record_batch` marks their request done).

Cancel: the provider batches are cancelled too, and what the provider had already answered
is still read and kept. Shutdown: polling stops; the batches stay at the provider and the
next start polls them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import aiohttp
import structlog

from releval_judge.engine.answers import all_failed, answer_outcome, render_batch
from releval_judge.engine.errors import RunFailed
from releval_judge.engine.polling import poll_intervals
from releval_judge.engine.run_context import RunContext
from releval_judge.prompt import JudgePrompt, TemplateError, TemplateLimitError
from releval_judge.providers import ProviderError, RateLimited, TransientProviderError, WireProvider
from releval_judge.providers.batches import (
    BatchClient,
    BatchFile,
    BatchRequest,
    BatchResult,
    BatchStatus,
    make_batch_client,
)
from releval_judge.providers.retry import backoff_delay
from releval_judge.scale import Scale
from releval_judge.store.provider_batches import PlannedRequest, ProviderBatchRow
from releval_judge.store.store import BatchOutcome

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Provider calls of the batch API (submit, poll, cancel) retried this often on transient
# errors; polls that keep failing for this many rounds are an outage that fails the run.
SUBMIT_ATTEMPTS = 6
POLL_FAILURES_FOR_OUTAGE = 20
# Results are written this many requests at a time (one lookup of their candidates).
RESULT_CHUNK = 200
# A restart looks for an unsure submission among batches created since a little before it.
FIND_SLACK = timedelta(minutes=5)
# After a cancel, how long the run keeps polling for the answers the provider already had.
CANCEL_DRAIN_S = 600.0


@dataclass
class _Plan:
    """The provider batch being filled."""

    file: BatchFile
    key: str
    requests: list[PlannedRequest] = field(default_factory=list)
    reserved: float = 0.0


class BatchDelivery:
    """Drives one batch-delivery run through its `RunContext` (the run's control, writes
    and candidate pages)."""

    def __init__(
        self,
        context: RunContext,
        *,
        provider: WireProvider,
        session: aiohttp.ClientSession,
        template: JudgePrompt,
        scale: Scale,
        poll_s: float,
    ) -> None:
        self.context = context
        self.store = context.store.batches
        self.run_id = context.run_id
        self.config = context.config
        self.control = context.control
        self.provider = provider
        self.client: BatchClient = make_batch_client(provider, session)
        self.template = template
        self.scale = scale
        self.poll_s = poll_s
        self.budget = context.budget
        self._cancel_forwarded = False

    @property
    def halted(self) -> bool:
        return self.control.halt.is_set()

    async def run(self) -> None:
        """Plan, submit, poll and read until every candidate of the run has a result (or
        the run is halted). Raises `RunFailed`."""
        try:
            await self._settle_unsure_submissions()
            while not self.halted:
                submitted = await self._plan_and_submit()
                open_batches = await self._call_db(
                    lambda: self.store.open_batches(self.run_id), "reading provider batches"
                )
                if not open_batches:
                    if submitted == 0:
                        break
                    continue
                await self._poll(open_batches)
                if self.budget is not None and self.budget.exhausted:
                    # Planned up to the limit once: another round would wait for the
                    # provider again for what is left over from the bounds.
                    break
        except RunFailed:
            # Nothing more will be read: the provider need not finish what is open.
            try:
                await self._cancel_open("the run failed")
            except Exception:
                log.exception("provider_batches_not_cancelled")
            raise
        if self.control.reason == "cancelled":
            await self._drain_after_cancel()
        elif self.control.reason == "failed":
            await self._cancel_open("the run failed")

    # --- after a restart -------------------------------------------------------------------

    async def _settle_unsure_submissions(self) -> None:
        for row in await self._call_db(
            lambda: self.store.open_batches(self.run_id), "reading provider batches"
        ):
            if row.state in ("preparing", "prepared"):
                await self.store.delete(row.id)
            elif row.state == "submitting":
                found = await self._find(row)
                if found is None:
                    log.info("provider_batch_never_submitted", seq_no=row.seq_no)
                    await self.store.delete(row.id)
                else:
                    log.info("provider_batch_found", seq_no=row.seq_no, provider_batch=found.id)
                    await self.store.submitted(row.id, found.id, found.status, found.request_counts)
            if row.reserved_cost and self.budget is not None:
                self.budget.reserved += row.reserved_cost

    async def _find(self, row: ProviderBatchRow) -> BatchStatus | None:
        in_use = await self.store.ids_in_use(self.config.provider)
        found = await self._provider_call(
            lambda: self.client.find(
                row.submission_key, requests=row.requests, since=row.created_at - FIND_SLACK
            ),
            "looking for a submitted batch",
        )
        if found is not None and found.id in in_use:
            return None
        return found

    # --- planning and submitting ---------------------------------------------------------

    async def _plan_and_submit(self) -> int:
        """Put every pending candidate into provider batches and submit them; the number of
        provider batches submitted. With a cost limit, planning stops at the first request
        whose cost bound does not fit."""
        plan: _Plan | None = None
        submitted = 0
        try:
            async for batch in self.context.candidate_batches():
                if self.halted:
                    break
                try:
                    prompt = await render_batch(
                        self.context.templates, self.template, batch, self.scale, self.config
                    )
                except TemplateLimitError as exc:
                    raise RunFailed(f"prompt_template is over a limit: {exc}") from exc
                except TemplateError as exc:
                    reason = f"prompt template failed: {exc}"
                    await self.context.write(all_failed([c.id for c in batch], reason))
                    continue
                bound = self._bound(len(prompt.text), len(batch))
                if self.budget is not None and not self.budget.reserve(bound):
                    break
                body = self.provider.request_body(prompt)
                if plan is None:
                    plan = _Plan(file=self.client.new_file(), key=uuid.uuid4().hex)
                custom_id, encoded = self._encode(plan, body)
                if plan.requests and not plan.file.fits(encoded):
                    await self._submit(plan)
                    submitted += 1
                    plan.file.close()
                    plan = _Plan(file=self.client.new_file(), key=uuid.uuid4().hex)
                    custom_id, encoded = self._encode(plan, body)
                plan.file.add(custom_id, encoded)
                plan.requests.append(PlannedRequest(custom_id, [c.id for c in batch]))
                plan.reserved += bound
            if plan is not None and plan.requests and not self.halted:
                await self._submit(plan)
                submitted += 1
        finally:
            if plan is not None:
                plan.file.close()
        return submitted

    def _bound(self, prompt_chars: int, candidates: int) -> float:
        if self.budget is None:
            return 0.0
        return self.budget.bound(
            prompt_chars=prompt_chars,
            candidates=candidates,
            max_output_tokens=self.config.max_output_tokens,
        )

    def _encode(self, plan: _Plan, body: dict[str, object]) -> tuple[str, bytes]:
        """The request's custom_id (the batch's key and its number in it: unique in the
        run, at most 64 characters) and its encoding in the batch file."""
        custom_id = f"{plan.key[:12]}-{len(plan.requests) + 1}"
        return custom_id, self.client.encode(BatchRequest(custom_id, body))

    async def _submit(self, plan: _Plan) -> None:
        """Record the batch, then submit it; its provider id is stored at once."""
        row = await self._call_db(
            lambda: self.store.create(
                self.run_id,
                provider=self.config.provider,
                submission_key=plan.key,
                requests=plan.requests,
                reserved_cost=plan.reserved,
                lease_owner=self.context.lease.owner,
                lease_epoch=self.context.lease.epoch,
            ),
            "recording a provider batch",
        )
        status: BatchStatus | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                status = await self.client.submit(plan.file, plan.key)
                break
            except (TransientProviderError, RateLimited) as exc:
                # The provider may have created it all the same (a lost answer).
                log.warning("provider_batch_submit_retried", attempt=attempt, error=exc.message)
                status = await self._find(row)
                if status is not None:
                    break
                if attempt == SUBMIT_ATTEMPTS:
                    await self.store.delete(row.id)
                    raise RunFailed(f"provider outage: submitting a batch: {exc.message}") from exc
                await asyncio.sleep(backoff_delay(attempt))
            except ProviderError as exc:
                await self.store.delete(row.id)
                raise RunFailed(f"the provider refused the batch: {exc.message}") from exc
        assert status is not None
        await self._call_db(
            lambda: self.store.submitted(row.id, status.id, status.status, status.request_counts),
            "recording a submitted provider batch",
        )
        log.info(
            "provider_batch_submitted",
            seq_no=row.seq_no,
            provider_batch=status.id,
            requests=len(plan.requests),
            bytes=plan.file.size,
        )

    # --- polling and reading ---------------------------------------------------------------

    async def _poll(self, open_batches: Sequence[ProviderBatchRow]) -> None:
        """Poll the open batches until each is read (or the run halts)."""
        pending = list(open_batches)
        failures = 0
        waits = poll_intervals(self.poll_s)
        while pending and not self.halted:
            still: list[ProviderBatchRow] = []
            for row in pending:
                if self.halted:
                    return
                assert row.provider_batch_id is not None
                try:
                    status = await self.client.status(row.provider_batch_id)
                except (TransientProviderError, RateLimited) as exc:
                    failures += 1
                    if failures >= POLL_FAILURES_FOR_OUTAGE:
                        raise RunFailed(f"provider outage: polling batches: {exc.message}") from exc
                    still.append(row)
                    continue
                except ProviderError as exc:
                    raise RunFailed(exc.message) from exc
                failures = 0
                await self._record_status(row, status)
                if status.ended:
                    await self._read(row, status)
                else:
                    still.append(row)
            pending = still
            if pending:
                wait = next(waits)
                log.info("provider_batches_polled", still_open=len(pending), next_poll_s=wait)
                await self._wait(wait)

    async def _record_status(self, row: ProviderBatchRow, status: BatchStatus) -> None:
        await self._call_db(
            lambda: self.store.update_status(
                row.id,
                status=status.status,
                counts=status.request_counts,
                output_ref=status.output_ref,
                error_ref=status.error_ref,
                error=status.error,
            ),
            "recording a provider batch's status",
        )

    async def _read(self, row: ProviderBatchRow, status: BatchStatus) -> None:
        """Write every result of an ended batch, then failures for requests without one."""
        if status.error is not None:
            raise RunFailed(status.error)
        chunk: list[BatchResult] = []
        async for result in self._results(status):
            chunk.append(result)
            if len(chunk) >= RESULT_CHUNK:
                await self._write_results(chunk)
                chunk = []
        await self._write_results(chunk)
        if self.control.reason in ("failed", "lease_lost"):
            # Lost: the batch stays unread, for the run's new holder to read.
            return
        missing = await self.store.undone_requests(row.id)
        if missing:
            cancelled = self.control.reason == "cancelled" or status.status in (
                "cancelled",
                "canceling",
                "cancelling",
            )
            if not cancelled:
                await self._write_results(
                    [
                        BatchResult(
                            custom_id,
                            "errored",
                            error=ProviderError(
                                f"the provider's results of batch {status.id} have no answer "
                                "for this request"
                            ),
                        )
                        for custom_id in missing
                    ]
                )
        await self.store.read(row.id)
        log.info(
            "provider_batch_read",
            seq_no=row.seq_no,
            provider_batch=status.id,
            status=status.status,
            missing=len(missing),
        )
        if self.budget is not None:
            self.budget.reserved = max(self.budget.reserved - row.reserved_cost, 0.0)

    async def _results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        attempt = 0
        while True:
            try:
                async for result in self.client.results(status):
                    yield result
                return
            except (TransientProviderError, RateLimited) as exc:
                attempt += 1
                if attempt >= SUBMIT_ATTEMPTS:
                    raise RunFailed(f"provider outage: reading results: {exc.message}") from exc
                log.warning("provider_batch_results_retried", attempt=attempt, error=exc.message)
                await asyncio.sleep(backoff_delay(attempt))
            except ProviderError as exc:
                raise RunFailed(exc.message) from exc

    async def _write_results(self, results: Sequence[BatchResult]) -> None:
        if not results:
            return
        by_id = {r.custom_id: r for r in results}
        candidates = await self._call_db(
            lambda: self.store.request_candidates(self.run_id, list(by_id)),
            "reading a provider batch's candidates",
        )
        for custom_id, items in candidates.items():
            result = by_id[custom_id]
            outcome = self._outcome(result, [i.candidate_id for i in items])
            if outcome is None:
                continue
            await self.context.write(outcome)
            if self.control.reason in ("failed", "lease_lost"):
                return

    def _outcome(self, result: BatchResult, candidate_ids: list[uuid.UUID]) -> BatchOutcome | None:
        request = result.custom_id
        if result.kind == "succeeded" and result.completion is not None:
            if self.budget is not None:
                self.budget.spend(result.completion)
            return answer_outcome(result.completion, candidate_ids, self.scale, request=request)
        if result.kind == "errored":
            error = result.error or ProviderError("the provider gave no reason")
            if error.is_fatal_for_run:
                self.control.stop("failed", error.message)
                return None
            reason = f"the provider errored this request: {error.message}"
        elif result.kind == "expired":
            reason = "the provider batch expired (24 h) before this request was run"
        else:
            if self.control.reason == "cancelled":
                return None  # a cancelled run: these stay unjudged
            reason = "the provider cancelled this request"
        return all_failed(candidate_ids, reason, request=request)

    # --- cancel -----------------------------------------------------------------------------

    async def _cancel_open(self, why: str) -> list[ProviderBatchRow]:
        """Ask the provider to cancel every open batch (once); the batches asked."""
        rows = await self.store.open_batches(self.run_id)
        if self._cancel_forwarded:
            return rows
        self._cancel_forwarded = True
        for row in rows:
            if row.provider_batch_id is None:
                continue
            try:
                status = await self.client.cancel(row.provider_batch_id)
            except ProviderError as exc:
                log.warning("provider_batch_cancel_failed", error=exc.message, seq_no=row.seq_no)
                continue
            await self._record_status(row, status)
            log.info("provider_batch_cancelled", provider_batch=row.provider_batch_id, why=why)
        return rows

    async def _drain_after_cancel(self) -> None:
        """Cancel the provider batches, then read what the provider had already answered."""
        rows = [r for r in await self._cancel_open("the run was cancelled") if r.provider_batch_id]
        deadline = asyncio.get_running_loop().time() + CANCEL_DRAIN_S
        while rows and asyncio.get_running_loop().time() < deadline:
            still: list[ProviderBatchRow] = []
            for row in rows:
                assert row.provider_batch_id is not None
                try:
                    status = await self.client.status(row.provider_batch_id)
                except ProviderError:
                    still.append(row)
                    continue
                await self._record_status(row, status)
                if status.ended:
                    try:
                        await self._read(row, status)
                    except RunFailed as exc:
                        log.warning("provider_batch_not_read", error=str(exc))
                else:
                    still.append(row)
            rows = still
            if rows:
                await asyncio.sleep(min(self.poll_s, 5.0))

    # --- helpers ------------------------------------------------------------------------------

    async def _wait(self, seconds: float) -> None:
        """Sleep, waking early when the run is halted."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.control.halt.wait(), seconds)

    async def _provider_call(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                return await call()
            except (TransientProviderError, RateLimited) as exc:
                if attempt == SUBMIT_ATTEMPTS:
                    raise RunFailed(f"provider outage: {what}: {exc.message}") from exc
                await asyncio.sleep(backoff_delay(attempt))
            except ProviderError as exc:
                raise RunFailed(exc.message) from exc
        raise AssertionError("unreachable")

    async def _call_db(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        return await self.context.with_db(call, what)
