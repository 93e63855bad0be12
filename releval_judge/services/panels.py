"""Judge panels, panel runs and their aggregate judgments, and the review queue
(docs/panels.md). Panel runs are run by ``engine.panel_runs`` (``Services.panels``); the
queue's scores are ``panels.queue``'s, over the candidates read here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from releval_judge.documents import clean_fields, truncate_text
from releval_judge.models import Page
from releval_judge.panels.models import (
    JudgePanel,
    JudgePanelCreate,
    PanelJudgment,
    PanelRun,
    PanelRunCreate,
    ReviewQueue,
    ReviewQueueParams,
)
from releval_judge.panels.queue import WEIGHTS, Queue
from releval_judge.services import Services
from releval_judge.services.checks import checked_relevant_min_grade
from releval_judge.store.panels import PanelStore
from releval_judge.store.ui import UiStore


def _store(svc: Services) -> PanelStore:
    return PanelStore(svc.store.pool)


# --- panels ----------------------------------------------------------------------------


async def create_panel(svc: Services, body: JudgePanelCreate) -> JudgePanel:
    return await _store(svc).create_panel(body)


async def list_panels(svc: Services, *, limit: int, cursor: str | None) -> Page[JudgePanel]:
    return await _store(svc).list_panels(limit=limit, cursor=cursor)


async def get_panel(svc: Services, panel_id: str) -> JudgePanel:
    return await _store(svc).get_panel(panel_id)


async def delete_panel(svc: Services, panel_id: str) -> None:
    """Delete the panel (409 while one of its panel runs is running); its runs stay."""
    await _store(svc).delete_panel(panel_id)


# --- panel runs ------------------------------------------------------------------------


async def start_panel_run(
    svc: Services, evaluation_run_id: str, body: PanelRunCreate, *, by: str
) -> PanelRun:
    """Start one judging run per member, started by ``by`` (a token's name); the aggregate
    is written when all have ended."""
    return await svc.panels.start_panel_run(
        evaluation_run_id, body.panel_id, body.scope, created_by=by, reuse=body.reuse
    )


async def list_panel_runs(
    svc: Services, evaluation_run_id: str, *, limit: int, cursor: str | None
) -> Page[PanelRun]:
    await svc.store.get_evaluation_run(evaluation_run_id)  # NotFound: 404
    return await _store(svc).list_panel_runs(evaluation_run_id, limit=limit, cursor=cursor)


async def get_panel_run(svc: Services, panel_run_id: str) -> PanelRun:
    return await _store(svc).get_panel_run(panel_run_id)


async def cancel_panel_run(svc: Services, panel_run_id: str, *, by: str) -> PanelRun:
    """Cancel the panel run and its active members, by ``by`` (409 once it ended)."""
    return await svc.panels.cancel(panel_run_id, by=by)


async def list_panel_judgments(
    svc: Services,
    panel_run_id: str,
    *,
    disagreement: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[PanelJudgment]:
    """The panel run's aggregate judgments (only those flagged, or not, with
    ``disagreement``), in (query_id, rank) order."""
    return await _store(svc).list_panel_judgments(
        panel_run_id, disagreement=disagreement, limit=limit, cursor=cursor
    )


# --- review queue ----------------------------------------------------------------------


async def review_queue(
    svc: Services, evaluation_run_id: str, params: ReviewQueueParams
) -> ReviewQueue:
    """Candidates without a human grade, highest priority first (panels/queue.py), scored
    with the flags of the evaluation run's latest completed panel run."""
    evaluation = await svc.store.get_evaluation_run(evaluation_run_id)
    relevant_min_grade = checked_relevant_min_grade(evaluation.scale, params.relevant_min_grade)
    store = _store(svc)
    panel_run_id = await store.latest_completed_panel_run(evaluation.id)
    queue = Queue(relevant_min_grade, params.limit)
    async for candidate in store.queue_candidates(evaluation.id, panel_run_id):
        queue.add(candidate)
    return ReviewQueue(
        evaluation_run_id=evaluation.id,
        relevant_min_grade=relevant_min_grade,
        panel_run_id=panel_run_id,
        weights=WEIGHTS,
        items=queue.items(),
    )


@dataclass(frozen=True)
class QueueDocument:
    """A queued candidate's document as its AI judge saw it: title, text and fields with
    the document rules of the judge snapshot that gave its current AI grade applied
    (``documents.prompt_candidate``'s rules; the whole document when no AI judge graded
    it yet), and that judge's reasoning (None: no AI grade)."""

    title: str | None
    text: str | None
    fields: dict[str, Any]
    reasoning: str | None


@dataclass(frozen=True)
class QueueRows:
    queue: ReviewQueue
    documents: dict[str, QueueDocument]


async def review_queue_rows(
    svc: Services, evaluation_run_id: str, params: ReviewQueueParams
) -> QueueRows:
    """The review queue (as :func:`review_queue`) and the document of each item to grade
    from, as the review queue page shows it."""
    queue = await review_queue(svc, evaluation_run_id, params)
    stored = await UiStore(svc.store).queue_documents(
        queue.evaluation_run_id, [i.candidate_id for i in queue.items]
    )
    documents: dict[str, QueueDocument] = {}
    for candidate_id, d in stored.items():
        limit, names = d.max_document_chars, d.judge_fields
        documents[candidate_id] = QueueDocument(
            title=None if d.title is None else truncate_text(d.title, limit),
            text=None if d.text is None else truncate_text(d.text, limit),
            fields=clean_fields(d.fields, names, limit),
            reasoning=d.reasoning,
        )
    return QueueRows(queue, documents)
