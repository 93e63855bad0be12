"""Evaluation runs: create, list, get, patch, the bulk import of candidates, and the
overview of one run (what the UI's run page shows)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from releval_judge.errors import DuplicateCandidate, EvaluationRunLocked
from releval_judge.models import (
    AiJudge,
    CandidateLine,
    EvaluationRun,
    EvaluationRunCreate,
    EvaluationRunPatch,
    ImportResult,
    JudgingRun,
    Page,
)
from releval_judge.panels.models import PanelRun
from releval_judge.services import Services
from releval_judge.store.panels import PanelStore
from releval_judge.store.ui import UiStore

# The judges an overview offers to start a judging run with.
MAX_JUDGES = 1000


class CandidateUpload(Protocol):
    """An import's body: ``receive`` takes it all in (checking each line, refusing what is
    too large), then ``candidates`` replays the lines received, and ``numbered`` the same
    with each one's line number in the body."""

    async def receive(self) -> None: ...

    def candidates(self) -> AsyncIterator[CandidateLine]: ...

    def numbered(self) -> AsyncIterator[tuple[int, CandidateLine]]: ...


async def create_evaluation_run(svc: Services, body: EvaluationRunCreate) -> EvaluationRun:
    return await svc.store.create_evaluation_run(body)


async def list_evaluation_runs(
    svc: Services, *, limit: int, cursor: str | None
) -> Page[EvaluationRun]:
    return await svc.store.list_evaluation_runs(limit=limit, cursor=cursor)


async def get_evaluation_run(svc: Services, run_id: str) -> EvaluationRun:
    return await svc.store.get_evaluation_run(run_id)


async def patch_evaluation_run(
    svc: Services, run_id: str, patch: EvaluationRunPatch
) -> EvaluationRun:
    return await svc.store.patch_evaluation_run(run_id, patch)


async def import_candidates(svc: Services, run_id: str, upload: CandidateUpload) -> ImportResult:
    """Receive the whole upload, then import it in one short transaction: a slow or
    stalled upload holds no database connection.

    What cannot succeed is refused before the upload is read (a client that waits for
    "100 Continue" never sends it); the transaction checks again.
    """
    run = await svc.store.get_evaluation_run(run_id)
    if run.locked:
        raise EvaluationRunLocked(run_id)
    await upload.receive()
    try:
        return await svc.store.import_candidates(run_id, upload.candidates())
    except DuplicateCandidate as exc:
        raise await _located(exc, upload) from exc


async def _located(duplicate: DuplicateCandidate, upload: CandidateUpload) -> DuplicateCandidate:
    """The duplicate with the lines that hold its pair: the upload is read again (only
    when an import failed so), since PostgreSQL names the pair but not the line."""
    lines: list[int] = []
    pair: tuple[str, str] | None = None
    async for line_no, line in upload.numbered():
        if f"{line.query_id}, {line.doc_id}" == duplicate.key:
            lines.append(line_no)
            pair = (line.query_id, line.doc_id)
            if len(lines) == 2:
                break
    return DuplicateCandidate(duplicate.key, lines=lines, pair=pair)


@dataclass(frozen=True)
class RunOverview:
    """An evaluation run with what is done on it: a page of its judging runs (newest
    first), its latest panel runs, the judges one may start a run with, and how many of
    its current AI judgments have each grade."""

    evaluation: EvaluationRun
    judging_runs: Page[JudgingRun]
    panel_runs: list[PanelRun]
    judges: list[AiJudge]
    grade_counts: dict[int, int]


async def run_overview(
    svc: Services, run_id: str, *, runs_per_page: int, cursor: str | None
) -> RunOverview:
    """404 for an unknown run; ``cursor`` pages its judging runs."""
    evaluation = await svc.store.get_evaluation_run(run_id)
    judging_runs = await svc.store.list_judging_runs(
        evaluation.id, limit=runs_per_page, cursor=cursor
    )
    judges = await svc.store.list_judges(limit=MAX_JUDGES, cursor=None)
    counts = await UiStore(svc.store).current_grade_counts(evaluation.id)
    panel_runs = await PanelStore(svc.store.pool).list_panel_runs(
        evaluation.id, limit=runs_per_page, cursor=None
    )
    return RunOverview(evaluation, judging_runs, panel_runs.items, judges.items, counts)
