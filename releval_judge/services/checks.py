"""Checks several use cases make of their parameters against an evaluation run: the
relevance threshold within the run's scale, and a human judge who graded the run.

Each raises :class:`ValidationFailed` (422) naming the parameter as the client gave it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from releval_judge.errors import ValidationFailed
from releval_judge.review.agreement import default_relevant_from
from releval_judge.scale import Scale
from releval_judge.services import Services
from releval_judge.store.review import ReviewStore


def checked_relevant_min_grade(
    scale: Scale, given: int | None, *, param: str = "relevant_min_grade"
) -> int:
    """The lowest grade that counts as relevant: ``given``, else the scale's middle grade
    rounded up. ``given`` must be above the scale's lowest grade and at most its highest;
    ``param`` names it in the error (the agreement route calls it ``relevant_from``)."""
    if given is None:
        return default_relevant_from(scale.min, scale.max)
    if not scale.min < given <= scale.max:
        raise ValidationFailed(
            f"{param} {given} must be above the scale's lowest grade and at most its "
            f"highest ({scale.min + 1}–{scale.max})",
            details=[{"loc": ["query", param], "input": given}],
        )
    return given


async def human_judges(svc: Services, evaluation_run_id: str) -> list[str]:
    """The names of the run's human judges, the one with the most judgments first."""
    return [j.judge for j in await ReviewStore(svc.store).human_judges(evaluation_run_id)]


def check_human_judge(
    judges: Sequence[str],
    judge: str,
    evaluation_run_id: str,
    *,
    where: Literal["query", "body"] = "query",
) -> None:
    """``judge`` must be one of ``judges``, the run's human judges; ``where`` the request
    gave the name (its ``human_judge`` field)."""
    if judge not in judges:
        raise ValidationFailed(
            f"human judge {judge!r} has no judgments on evaluation run {evaluation_run_id}"
            + (f" (human judges: {', '.join(sorted(judges))})" if judges else ""),
            details=[{"loc": [where, "human_judge"], "input": judge}],
        )
