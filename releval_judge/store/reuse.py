"""Reuse by fingerprint: the earlier judgments a judging run may take instead of calling the
provider (engine/fingerprints.py says what a fingerprint covers). Queries: ``reuse.sql``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from releval_judge.store.batches import PendingCandidate, candidate_fields
from releval_judge.store.database import PoolUser
from releval_judge.store.sql import queries

Q = queries()


@dataclass(frozen=True)
class ReusableJudgment:
    """An earlier successful judgment of a fingerprint, and the judging run that called
    the provider for it."""

    grade: int
    reasoning: str
    source_run: UUID


def fingerprint_prefix(fingerprint: bytes) -> int:
    """The first 8 bytes of a fingerprint as a signed integer, as ``reuse.sql`` computes it
    (``bit(64)::bigint``): what a run keeps in memory of each known fingerprint."""
    return int.from_bytes(fingerprint[:8], "big", signed=True)


class Reuse(PoolUser):
    """Reuse's part of :class:`~releval_judge.store.store.Store`."""

    async def reusable_judgments(
        self, fingerprints: Sequence[bytes], *, judging_run_id: str | None
    ) -> dict[bytes, ReusableJudgment]:
        """The latest successful judgment of each of ``fingerprints`` that another judging
        run than ``judging_run_id`` (None: any run) wrote (failures are never kept, so
        never reused)."""
        if not fingerprints:
            return {}
        rows = await self.pool.fetch(
            Q["reusable_judgments"],
            list(fingerprints),
            None if judging_run_id is None else UUID(judging_run_id),
        )
        return {
            bytes(r["fingerprint"]): ReusableJudgment(
                grade=r["grade"], reasoning=r["reasoning"], source_run=r["source_run"]
            )
            for r in rows
        }

    async def record_settings_fingerprint(self, judging_run_id: str, digest: bytes) -> bool:
        """Record the hash of the run's deciding settings; whether another run (of any
        evaluation, in any state) had the same: if none did, no judgment can match this
        run's fingerprints."""
        seen: bool = await self.pool.fetchval(
            Q["record_settings_fingerprint"], UUID(judging_run_id), digest
        )
        return seen

    async def known_fingerprint_prefixes(
        self, judging_run_id: str, settings_digest: bytes, *, limit: int
    ) -> frozenset[int] | None:
        """The :func:`fingerprint_prefix` of every fingerprint that another run with the
        settings hashed ``settings_digest`` judged (only those can match this run's), or
        None when there are more than ``limit`` (too many to hold in memory)."""
        rows = await self.pool.fetch(
            Q["known_fingerprint_prefixes"], UUID(judging_run_id), settings_digest, limit + 1
        )
        if len(rows) > limit:
            return None
        return frozenset(r["prefix"] for r in rows)

    async def candidates_by_id(
        self, evaluation_run_id: str, candidate_ids: Sequence[UUID]
    ) -> list[PendingCandidate]:
        """Candidates of ``evaluation_run_id`` as a run reads them, in no order."""
        rows = await self.pool.fetch(
            Q["candidates_by_id"], UUID(evaluation_run_id), list(candidate_ids)
        )
        return [PendingCandidate(**candidate_fields(r)) for r in rows]
