"""The judgments of an evaluation run: the listing (AI and human, filtered, sorted,
paginated), the other judgments of the candidates under review, and human grades (put
and delete; their append-only history is read in ``services.review``)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from releval_judge.errors import ValidationFailed, summarise, validation_details
from releval_judge.models import HumanJudgeName, HumanJudgmentPut, Judgment, Page
from releval_judge.params import JudgmentParams
from releval_judge.services import Services
from releval_judge.store.judgments import JudgmentFilter, list_judgments
from releval_judge.store.review import ReviewStore
from releval_judge.store.ui import CandidateJudgment, UiStore

_JUDGE_NAME: TypeAdapter[str] = TypeAdapter(HumanJudgeName)


async def list_run_judgments(
    svc: Services, evaluation_run_id: str, params: JudgmentParams
) -> Page[Judgment]:
    """One page of the run's current judgments, as ``params`` filter and sort them (422 for
    a bad sort or cursor, 404 for an unknown run or ``ai_judging_run_id``)."""
    return await list_judgments(
        svc.store.pool,
        evaluation_run_id,
        filters=JudgmentFilter(
            source=params.source,
            grade=params.grade,
            min_grade=params.min_grade,
            max_grade=params.max_grade,
            max_rank=params.max_rank,
            query_id=params.query_id,
            ai_judging_run_id=params.ai_judging_run_id,
        ),
        sort=params.sort,
        limit=params.limit,
        cursor=params.cursor,
    )


@dataclass(frozen=True)
class ReviewRows:
    """A page of judgments under review, and the current judgments of each of their
    candidates (AI first, then humans by name) to show beside them."""

    page: Page[Judgment]
    beside: dict[str, list[CandidateJudgment]]


async def review_rows(svc: Services, evaluation_run_id: str, params: JudgmentParams) -> ReviewRows:
    """The listing's page (errors as :func:`list_run_judgments`) and what is beside it."""
    page = await list_run_judgments(svc, evaluation_run_id, params)
    beside = await UiStore(svc.store).judgments_of(
        evaluation_run_id, [j.candidate_id for j in page.items]
    )
    return ReviewRows(page, beside)


def human_judge_name(raw: str) -> str:
    """The ``{judge}`` path segment: a human judge's name (no '/', no NUL, ≤ 200 chars)."""
    try:
        name = _JUDGE_NAME.validate_python(raw)
    except ValidationError as exc:
        details = validation_details(exc, prefix="path")
        for item in details:
            item["loc"] = ["path", "judge"]
        raise ValidationFailed(f"judge: {summarise(details)}", details=details) from exc
    if "\x00" in name:
        raise ValidationFailed(
            "judge: a judge's name cannot contain NUL", details=[{"loc": ["path", "judge"]}]
        )
    return name


async def put_human_judgment(
    svc: Services,
    evaluation_run_id: str,
    candidate_id: str,
    judge: str,
    body: HumanJudgmentPut,
    *,
    by: str,
) -> Judgment:
    """Create or replace human judge ``judge``'s grade of one candidate, recorded as made
    by ``by``. ``judge`` is the path segment as sent: an unknown run is a 404 whatever it
    holds, a bad name a 422 after that."""
    # Checked again under the lock.
    await svc.store.get_evaluation_run(evaluation_run_id)
    return await ReviewStore(svc.store).put_human_judgment(
        evaluation_run_id,
        candidate_id,
        human_judge_name(judge),
        body.grade,
        body.reasoning,
        by=by,
    )


async def delete_human_judgment(
    svc: Services, evaluation_run_id: str, candidate_id: str, judge: str, *, by: str
) -> None:
    """Remove human judge ``judge``'s grade of one candidate (checked as for a put);
    404 when there is none, 409 when the run is locked."""
    await svc.store.get_evaluation_run(evaluation_run_id)
    await ReviewStore(svc.store).delete_human_judgment(
        evaluation_run_id, candidate_id, human_judge_name(judge), by=by
    )
