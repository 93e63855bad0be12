"""The Store: every read and write of the service, returning models (never records).

One class made of one part per resource, each in its module with its queries in the
``.sql`` file of the same name: evaluation runs, judges, judging runs, their leases,
batches and failures. The stores of the other concerns hang off it (``store.batches``,
``store.tokens`` …) or take it (``ReviewStore(store)``).
"""

from __future__ import annotations

import asyncpg

from releval_judge.store.batches import (
    BatchOutcome,
    FailureWrite,
    JudgmentWrite,
    PendingCandidate,
    RunBatches,
)
from releval_judge.store.evaluation_runs import ANALYZE_AFTER, EvaluationRuns
from releval_judge.store.failures import Failures
from releval_judge.store.judges import Judges
from releval_judge.store.judging_runs import ActiveRun, JudgingRuns, Lease, run_cost
from releval_judge.store.key_slots import KeySlotStore
from releval_judge.store.leases import Leases
from releval_judge.store.pages import parse_uuid, time_cursor
from releval_judge.store.provider_batches import ProviderBatchStore
from releval_judge.store.rate_budgets import RateBudgetStore
from releval_judge.store.reuse import ReusableJudgment, Reuse
from releval_judge.store.secrets import SecretStore
from releval_judge.store.tokens import TokenStore

__all__ = [
    "ANALYZE_AFTER",
    "ActiveRun",
    "BatchOutcome",
    "FailureWrite",
    "JudgmentWrite",
    "Lease",
    "PendingCandidate",
    "ReusableJudgment",
    "Store",
    "parse_uuid",
    "run_cost",
    "time_cursor",
]


class Store(EvaluationRuns, Judges, JudgingRuns, Leases, RunBatches, Failures, Reuse):
    """All SQL of the service goes through here or through the stores it holds."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.batches = ProviderBatchStore(pool)
        self.rate_budgets = RateBudgetStore(pool)
        self.key_slots = KeySlotStore(pool)
        self.tokens = TokenStore(pool)
        self.secret_rows = SecretStore(pool)

    async def ping(self) -> None:
        async with self.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
