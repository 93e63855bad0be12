"""The judgments listing: AI and human judgments of an evaluation run, filtered and sorted.

The sort is chosen by the client from a fixed set of columns, so the ORDER BY and the
keyset condition are assembled from that whitelist; every value is still a parameter.
Queries: ``judgments.sql`` (``current_judgments`` is also a part of other statements).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from releval_judge.cursor import decode_cursor
from releval_judge.errors import ValidationFailed
from releval_judge.models import JudgingRun, Judgment, Page
from releval_judge.scale import Scale
from releval_judge.store.database import Db
from releval_judge.store.evaluation_runs import scale_of
from releval_judge.store.pages import cursor_time, invalid_cursor, page, parse_uuid
from releval_judge.store.sql import fill, queries

SORTABLE: dict[str, tuple[str, str]] = {
    # name: (SQL expression, parameter cast)
    "grade": ("j.grade", "int"),
    "rank": ("c.rank", "int"),
    "query_id": ("c.query_id", "text"),
    "doc_id": ("c.doc_id", "text"),
    "created_at": ("j.created_at", "timestamptz"),
}
# Unique within an evaluation run: makes every order total, so cursors never skip a row.
TIEBREAK: list[tuple[str, str, str]] = [
    ("source", "j.source", "text"),
    ("judge", "j.judge", "text"),
    ("candidate_id", "j.candidate_id", "uuid"),
]
DEFAULT_SORT = "query_id,rank"

Q = queries()
LIST_JUDGMENTS = fill(
    Q["list_judgments"],
    current_judgments=Q["current_judgments"],
    judgment_filters=Q["judgment_filters"],
)
# For a sort that starts with query_id: one ordered walk of the run's candidates.
LIST_JUDGMENTS_BY_QUERY = fill(Q["list_judgments_by_query"], judgment_filters=Q["judgment_filters"])


@dataclass(frozen=True)
class JudgmentFilter:
    source: Literal["ai", "human"] | None = None
    grade: int | None = None
    min_grade: int | None = None
    max_grade: int | None = None
    max_rank: int | None = None
    query_id: str | None = None
    ai_judging_run_id: str | None = None


def parse_sort(sort: str | None) -> list[tuple[str, bool]]:
    """``-grade,rank`` → ``[("grade", True), ("rank", False)]`` (True = descending)."""
    keys: list[tuple[str, bool]] = []
    for part in (sort or DEFAULT_SORT).split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part.lstrip("-+")
        if name not in SORTABLE:
            raise ValidationFailed(
                f"cannot sort by {name!r}; sortable: {', '.join(SORTABLE)}",
                details=[{"loc": ["query", "sort"], "input": sort}],
            )
        if name in (k for k, _ in keys):
            raise ValidationFailed(f"sort key {name!r} given twice")
        keys.append((name, descending))
    return keys


def _keyset(columns: list[tuple[str, str, bool]], first_param: int) -> str:
    """``a >= $n AND ((a > $n) OR (a = $n AND b < $m) OR …)`` for a mixed-direction
    keyset. The leading ``a >= $n`` is implied by the rest; it is there so that an index
    on ``a`` can start at the cursor instead of at the first row."""
    first_expr, first_cast, first_desc = columns[0]
    bound = f"{first_expr} {'<=' if first_desc else '>='} ${first_param}::{first_cast}"
    clauses = []
    for i, (expr, cast, descending) in enumerate(columns):
        parts = [f"{e} = ${first_param + k}::{c}" for k, (e, c, _) in enumerate(columns[:i])]
        parts.append(f"{expr} {'<' if descending else '>'} ${first_param + i}::{cast}")
        clauses.append("(" + " AND ".join(parts) + ")")
    return bound + " AND (" + " OR ".join(clauses) + ")"


async def list_judgments(
    pool: asyncpg.Pool,
    evaluation_run_id: str,
    *,
    filters: JudgmentFilter,
    sort: str | None,
    limit: int,
    cursor: str | None,
) -> Page[Judgment]:
    eval_uuid = parse_uuid(evaluation_run_id, "evaluation run")
    scale = await scale_of(pool, evaluation_run_id)
    return await _list_judgments(pool, eval_uuid, scale, filters, sort, limit, cursor)


async def _list_judgments(
    db: Db,
    eval_uuid: UUID,
    scale: Scale,
    filters: JudgmentFilter,
    sort: str | None,
    limit: int,
    cursor: str | None,
) -> Page[Judgment]:
    keys = parse_sort(sort)
    columns = [(SORTABLE[name][0], SORTABLE[name][1], desc) for name, desc in keys]
    columns += [(expr, cast, False) for _, expr, cast in TIEBREAK]
    judging_run = (
        parse_uuid(filters.ai_judging_run_id, "AI judging run")
        if filters.ai_judging_run_id
        else None
    )
    params: list[Any] = [
        eval_uuid,
        filters.source,
        filters.grade,
        filters.min_grade,
        filters.max_grade,
        filters.max_rank,
        filters.query_id,
        judging_run,
    ]
    # Sorted by query_id first, a page is read in candidates_stream_idx order and ends
    # with the page; any other sort reads and sorts every current judgment of the run.
    sql = LIST_JUDGMENTS_BY_QUERY if keys[0][0] == "query_id" else LIST_JUDGMENTS
    if cursor is not None:
        values = decode_cursor(cursor, length=len(columns))
        params += [_cursor_value(v, cast) for v, (_, cast, _) in zip(values, columns, strict=True)]
        sql += " AND " + _keyset(columns, first_param=9)
    order = ", ".join(f"{expr} {'DESC' if desc else 'ASC'}" for expr, _, desc in columns)
    sql += f" ORDER BY {order} LIMIT ${len(params) + 1}"
    params.append(limit + 1)
    # One round trip: the generic plan of LIST_JUDGMENTS_BY_QUERY is the same ordered walk
    # as a custom one (the cursor's bound is an index condition either way).
    rows = await db.fetch(sql, *params)
    names = [name for name, _ in keys] + [name for name, _, _ in TIEBREAK]
    return page(
        Page[Judgment],
        rows,
        limit,
        lambda row: Judgment(**judgment_fields(row, scale)),
        lambda row: [_cursor_json(row[n]) for n in names],
    )


def judgment_fields(
    row: asyncpg.Record, scale: Scale, *, run: JudgingRun | None = None
) -> dict[str, Any]:
    """The fields of a judgments-listing item from a row with the listing's columns.

    With ``run`` the row is one of that judging run's own judgments: its source, judge and
    run come from the run rather than from the row.
    """
    fields: dict[str, Any] = {
        "candidate_id": str(row["candidate_id"]),
        "query_id": row["query_id"],
        "query": row["query"],
        "doc_id": row["doc_id"],
        "rank": row["rank"],
        "grade": row["grade"],
        "label": scale.label(row["grade"]),
        "reasoning": row["reasoning"],
        "created_at": row["created_at"],
    }
    if run is not None:
        fields.update(source="ai", judge=run.ai_judge_name, ai_judging_run_id=run.id)
    else:
        run_id = row["ai_judging_run_id"]
        fields.update(
            source=row["source"],
            judge=row["judge"],
            ai_judging_run_id=str(run_id) if run_id else None,
        )
    return fields


def _cursor_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _cursor_value(value: Any, cast: str) -> Any:
    try:
        # A forged cursor must fail here, not in asyncpg or PostgreSQL (a 500).
        if cast == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(value)
            if not -(2**31) <= value < 2**31:
                raise ValueError(value)
            return value
        if cast == "timestamptz":
            return cursor_time(value)
        if cast == "uuid":
            return UUID(value)
        if not isinstance(value, str) or "\x00" in value:
            raise TypeError(value)
        return value
    except (TypeError, ValueError, OverflowError) as exc:
        raise invalid_cursor() from exc
