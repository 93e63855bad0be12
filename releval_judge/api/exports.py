"""Streamed exports of judgments: CSV, JSON Lines, TREC qrels.

Everything that can fail (unknown ids, bad parameters, ids unfit for qrels) is checked
before the response starts; then rows are read a page at a time (a short read each, no
database connection held while the client reads) and sent in chunks, so an export of a
million judgments never sits in memory and a stalled client holds no connection.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from releval_judge.errors import ValidationFailed
from releval_judge.params import ExportParams, RunExportParams
from releval_judge.review.exports import EXTENSIONS, MEDIA_TYPES, ExportFormat, encode
from releval_judge.store.review import ExportFilter, ReviewStore
from releval_judge.web.auth import services
from releval_judge.web.body import read_query


def _download(body: StreamingResponse, fmt: ExportFormat, name: str) -> StreamingResponse:
    body.headers["Content-Disposition"] = f'attachment; filename="{name}.{EXTENSIONS[fmt]}"'
    return body


async def export_evaluation_judgments(request: Request) -> Response:
    """The evaluation run's current judgments (AI and human).

    In ``qrels`` each (query, document) needs one grade: the export then defaults to
    ``source=ai`` (one current AI judgment per candidate), and ``source=human`` needs
    ``judge=`` when the run has several human judges.
    """
    svc = services(request)
    params = read_query(request, ExportParams)
    evaluation = await svc.store.get_evaluation_run(request.path_params["run_id"])
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
    return _download(
        StreamingResponse(encode(rows, params.format), media_type=MEDIA_TYPES[params.format]),
        params.format,
        f"judgments-{evaluation.id}",
    )


async def export_judging_run_judgments(request: Request) -> Response:
    """Every judgment one judging run produced, current or not (``current`` says which)."""
    svc = services(request)
    params = read_query(request, RunExportParams)
    run = await svc.store.get_judging_run(request.path_params["judging_run_id"])
    evaluation = await svc.store.get_evaluation_run(run.evaluation_run_id)
    review = ReviewStore(svc.store)
    if params.format == "qrels":
        await _check_qrels_ids(review, evaluation.id)
    rows = review.export_run(
        run, evaluation.scale, min_grade=params.min_grade, max_grade=params.max_grade
    )
    return _download(
        StreamingResponse(
            encode(rows, params.format, with_current=True), media_type=MEDIA_TYPES[params.format]
        ),
        params.format,
        f"judging-run-{run.id}",
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
