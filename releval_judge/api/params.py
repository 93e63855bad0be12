"""Query-parameter models (unknown parameters are a 422, so typos do not pass silently)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from releval_judge.api.body import DEFAULT_LIMIT, MAX_LIMIT


class PageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, min_length=1, max_length=4000)


class JudgmentParams(PageParams):
    source: Literal["ai", "human"] | None = None
    grade: int | None = None
    min_grade: int | None = None
    max_grade: int | None = None
    max_rank: int | None = Field(None, ge=0)
    query_id: str | None = Field(None, min_length=1, max_length=500)
    ai_judging_run_id: str | None = Field(None, min_length=1, max_length=100)
    sort: str | None = Field(None, min_length=1, max_length=200)
