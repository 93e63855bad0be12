"""Evaluation runs: the ranked candidates of a search system's queries, created whole or
imported line by line (NDJSON), and the run as the API answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from releval_judge.models.base import (
    EvaluationRunId,
    EvaluationRunStatus,
    Key,
    Name,
    Strict,
)
from releval_judge.scale import Scale

QueryText = Annotated[str, Field(min_length=1, max_length=10_000)]


class CandidateIn(Strict):
    doc_id: Key
    rank: int = Field(ge=0, le=1_000_000_000)
    title: str | None = Field(None, max_length=100_000)
    text: str | None = Field(None, max_length=1_000_000)
    fields: dict[str, Any] = Field(default_factory=dict)


class QueryIn(Strict):
    text: QueryText
    query_id: Key | None = None
    candidates: list[CandidateIn] = Field(default_factory=list)


class EvaluationRunCreate(Strict):
    name: Name
    status: EvaluationRunStatus = "completed"
    scale: Scale
    queries: list[QueryIn] = Field(default_factory=list)


class EvaluationRunPatch(Strict):
    status: EvaluationRunStatus | None = None
    locked: bool | None = None


class CandidateLine(CandidateIn):
    """One line of an NDJSON bulk import: a candidate and its query."""

    query_id: Key
    query: QueryText


class EvaluationRun(BaseModel):
    id: EvaluationRunId
    name: str
    status: EvaluationRunStatus
    locked: bool
    scale: Scale
    query_count: int
    candidate_count: int
    created_at: datetime


class ImportResult(BaseModel):
    evaluation_run_id: EvaluationRunId
    imported: int
    queries_added: int
    evaluation_run: EvaluationRun
