"""Query-parameter models (unknown parameters are a 422, so typos do not pass silently)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from releval_judge.models import INT32_MAX, Grade, Seed, Strict
from releval_judge.review.exports import ExportFormat

# Every list: ?limit= (default and most), ?cursor=.
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class PageParams(Strict):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, min_length=1, max_length=4000)


class JudgmentParams(PageParams):
    source: Literal["ai", "human"] | None = None
    grade: Grade | None = None
    min_grade: Grade | None = None
    max_grade: Grade | None = None
    max_rank: int | None = Field(None, ge=0, le=INT32_MAX)
    query_id: str | None = Field(None, min_length=1, max_length=500)
    ai_judging_run_id: str | None = Field(None, min_length=1, max_length=100)
    sort: str | None = Field(None, min_length=1, max_length=200)


class HistoryParams(PageParams):
    """``GET …/candidates/{candidate_id}/history``: one human judge's changes only."""

    judge: str | None = Field(None, min_length=1, max_length=200)


# --- review, export and calibration (not paged: no limit or cursor) -------------------


class ExportParams(Strict):
    """``GET /evaluations/runs/{id}/judgments/export``."""

    format: ExportFormat = "jsonl"
    source: Literal["ai", "human"] | None = None
    min_grade: Grade | None = None
    max_grade: Grade | None = None
    judge: str | None = Field(None, min_length=1, max_length=200)


class RunExportParams(Strict):
    """``GET /ai-judging-runs/{id}/judgments/export``."""

    format: ExportFormat = "jsonl"
    min_grade: Grade | None = None
    max_grade: Grade | None = None


class SampleParams(Strict):
    """``GET /evaluations/runs/{id}/judgments/sample``."""

    n: int = Field(20, ge=1, le=1000)
    seed: Seed | None = None
    source: Literal["ai", "human"] | None = None


class AgreementParams(Strict):
    """``GET /ai-judging-runs/{id}/agreement``."""

    human_judge: str | None = Field(None, min_length=1, max_length=200)
    relevant_from: Grade | None = None
    """The lowest relevant grade: ``relevant_min_grade`` elsewhere, this route's own name."""
