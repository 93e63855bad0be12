"""Rate limits of a provider key shared by every run and every replica on one database.

A judge's ``requests_per_minute`` and ``tokens_per_minute`` are the limits of its provider
key, not of one run: two runs (or two replicas) on the same key must keep to them
together. :class:`SharedRatePacer` takes each call's turn from the key's row in PostgreSQL
(``store/rate_budgets.sql``, one statement, GCRA): a call may start once the key's request
and token "theoretical arrival times" have passed, and starting moves them on by the
call's share of a minute. The spacing is 1% wider than the limit, so that no 60-s window
ever holds more than ``requests_per_minute`` calls (n + 1 calls spaced that far apart span
more than a minute), while more than 0.99 of the limit is used when there is work. A 429's
``Retry-After`` pauses the key for every replica (:meth:`pause`).

The key's id is a hash of the provider, the base URL and the API key: the key itself never
reaches the database, and judges with the same key share one budget whatever their names.
Tokens are counted as the call's estimate (``pacing.estimate_call_tokens``); a window may
hold one call's tokens more than ``tokens_per_minute``.
"""

from __future__ import annotations

import asyncio
import hashlib

import structlog

from releval_judge.engine.pacing import Halted
from releval_judge.providers import ProviderConfig
from releval_judge.store.rate_budgets import RateBudgetStore

log = structlog.get_logger(__name__)

WINDOW_S = 60.0
SPACING_MARGIN = 1.01
# Waits are re-checked at least this often, so that a halt or a faster neighbour's release
# is noticed (a due turn is taken at once either way).
MAX_WAIT_S = 1.0


def key_id(config: ProviderConfig) -> str:
    """Which shared budget a provider config draws on: the same provider, base URL and
    key share one. A hash, so that the key never leaves the process."""
    material = "\0".join(
        (config.provider, config.resolved_base_url, config.api_key_value or "")
    ).encode()
    return hashlib.sha256(material).hexdigest()[:32]


class SharedRatePacer:
    """The pacer of a run whose judge sets rate limits: the key's budget in PostgreSQL."""

    def __init__(
        self,
        budgets: RateBudgetStore,
        key: str,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
    ) -> None:
        self.budgets = budgets
        self.key = key
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._request_s = (
            WINDOW_S / requests_per_minute * SPACING_MARGIN if requests_per_minute else 0.0
        )
        self._token_s = WINDOW_S / tokens_per_minute * SPACING_MARGIN if tokens_per_minute else 0.0

    @property
    def limited(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None

    async def acquire(self, tokens: int, *, stop: asyncio.Event | None = None) -> None:
        """Wait for the key's next turn and take it; `Halted` (nothing taken) when `stop`
        is set first."""
        while True:
            if stop is not None and stop.is_set():
                raise Halted
            wait = await self.budgets.take(
                self.key, request_s=self._request_s, token_s=self._token_s * tokens
            )
            if wait <= 0:
                return
            await _sleep(min(wait, MAX_WAIT_S), stop)

    async def pause(self, seconds: float) -> None:
        """The provider said to wait `seconds` (a 429's Retry-After): every run and replica
        on this key waits."""
        try:
            await self.budgets.pause(self.key, seconds)
        except Exception as exc:  # a lost database must not turn a 429 into a crash
            log.warning("rate_budget_pause_failed", error=str(exc))


async def _sleep(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return
