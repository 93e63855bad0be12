"""Streamed exports of judgments: CSV, JSON Lines, TREC qrels (``services.exports``).

Everything that can fail is checked before the response starts; then the rows are sent
in chunks as they are read (no database connection held while the client reads).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from releval_judge.params import ExportParams, RunExportParams
from releval_judge.services import exports
from releval_judge.services.exports import Export
from releval_judge.web.auth import services
from releval_judge.web.body import read_query


def _download(export: Export) -> StreamingResponse:
    return StreamingResponse(
        export.chunks,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


async def export_evaluation_judgments(request: Request) -> Response:
    """The evaluation run's current judgments (AI and human).

    In ``qrels`` each (query, document) needs one grade: the export then defaults to
    ``source=ai`` (one current AI judgment per candidate), and ``source=human`` needs
    ``judge=`` when the run has several human judges.
    """
    params = read_query(request, ExportParams)
    export = await exports.export_evaluation_judgments(
        services(request), request.path_params["run_id"], params
    )
    return _download(export)


async def export_judging_run_judgments(request: Request) -> Response:
    """Every judgment one judging run produced, current or not (``current`` says which)."""
    params = read_query(request, RunExportParams)
    export = await exports.export_judging_run_judgments(
        services(request), request.path_params["judging_run_id"], params
    )
    return _download(export)
