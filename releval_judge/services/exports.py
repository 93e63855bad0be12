"""Exports of judgments: CSV, JSON Lines, TREC qrels.

Everything that can fail (unknown ids, ids unfit for qrels, a missing ``judge=``) is
checked before an :class:`Export` is returned; its ``chunks`` then read rows a page at a
time (a short read each, no database connection held between pages) and encode them, so
an export of a million judgments never sits in memory and a stalled client holds no
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from releval_judge.errors import ValidationFailed
from releval_judge.params import ExportParams, RunExportParams
from releval_judge.review.exports import EXTENSIONS, MEDIA_TYPES, ExportFormat, encode
from releval_judge.services import Services
from releval_judge.store.review import ExportFilter, ReviewStore


@dataclass(frozen=True)
class Export:
    """A download: its file name, media type, and its bytes as they are read."""

    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


def _export(chunks: AsyncIterator[bytes], fmt: ExportFormat, name: str) -> Export:
    return Export(f"{name}.{EXTENSIONS[fmt]}", MEDIA_TYPES[fmt], chunks)


async def export_evaluation_judgments(
    svc: Services, evaluation_run_id: str, params: ExportParams
) -> Export:
    """The evaluation run's current judgments (AI and human).

    In ``qrels`` each (query, document) needs one grade: the export then defaults to
    ``source=ai`` (one current AI judgment per candidate), and ``source=human`` needs
    ``judge=`` when the run has several human judges.
    """
    evaluation = await svc.store.get_evaluation_run(evaluation_run_id)
    review = ReviewStore(svc.store)
    source = params.source
    judge = params.judge
    if params.format == "qrels":
        await _check_qrels_ids(review, evaluation.id)
        source = source or "ai"
        if source == "human" and judge is None:
            judges = sorted(j.judge for j in await review.human_judges(evaluation.id))
            if len(judges) > 1:
                raise ValidationFailed(
                    "qrels hold one grade per (query, document) and this run has several "
                    f"human judges; choose one with judge= ({', '.join(judges)})",
                    details=[{"loc": ["query", "judge"], "judges": judges}],
                )
    rows = review.export_current(
        evaluation,
        ExportFilter(
            source=source, min_grade=params.min_grade, max_grade=params.max_grade, judge=judge
        ),
    )
    return _export(encode(rows, params.format), params.format, f"judgments-{evaluation.id}")


async def export_judging_run_judgments(
    svc: Services, judging_run_id: str, params: RunExportParams
) -> Export:
    """Every judgment one judging run produced, current or not (``current`` says which)."""
    run = await svc.store.get_judging_run(judging_run_id)
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    review = ReviewStore(svc.store)
    if params.format == "qrels":
        await _check_qrels_ids(review, evaluation.id)
    rows = review.export_run(
        run, evaluation.scale, min_grade=params.min_grade, max_grade=params.max_grade
    )
    return _export(
        encode(rows, params.format, with_current=True), params.format, f"judging-run-{run.id}"
    )


async def _check_qrels_ids(review: ReviewStore, evaluation_run_id: str) -> None:
    unfit = await review.qrels_unfit_id(evaluation_run_id)
    if unfit is not None:
        query_id, doc_id = unfit
        raise ValidationFailed(
            "qrels separate fields by white space, and this evaluation run has ids holding "
            f"some (query_id {query_id!r}, doc_id {doc_id!r}); export format=jsonl or csv",
            details=[{"loc": ["query", "format"], "query_id": query_id, "doc_id": doc_id}],
        )
