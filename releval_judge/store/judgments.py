"""The judgments listing: AI and human judgments of an evaluation run, filtered and sorted.

The sort is chosen by the client from a fixed set of columns, so the ORDER BY and the
keyset condition are assembled from that whitelist; every value is still a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from releval_judge.cursor import decode_cursor, encode_cursor
from releval_judge.errors import NotFound, ValidationFailed
from releval_judge.models import JudgingRun, Judgment, Page
from releval_judge.scale import Scale
from releval_judge.store.sql import queries
from releval_judge.store.store import parse_uuid

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

_BASE = """
WITH j AS (
    SELECT a.candidate_id, 'ai'::text AS source, a.judge, a.grade, a.reasoning,
           a.ai_judging_run_id, a.created_at
    FROM ai_judgments a WHERE a.evaluation_run_id = $1
    UNION ALL
    SELECT h.candidate_id, 'human'::text, h.judge, h.grade, h.reasoning, NULL::uuid,
           h.created_at
    FROM human_judgments h WHERE h.evaluation_run_id = $1
)
SELECT j.candidate_id, c.query_id, q.text AS query, c.doc_id, c.rank, j.grade, j.reasoning,
       j.source, j.judge, j.ai_judging_run_id, j.created_at
FROM j
JOIN candidates c ON c.id = j.candidate_id
JOIN queries q ON q.evaluation_run_id = c.evaluation_run_id AND q.query_id = c.query_id
WHERE ($2::text IS NULL OR j.source = $2)
  AND ($3::int IS NULL OR j.grade = $3)
  AND ($4::int IS NULL OR j.grade >= $4)
  AND ($5::int IS NULL OR j.grade <= $5)
  AND ($6::int IS NULL OR c.rank <= $6)
  AND ($7::text IS NULL OR c.query_id = $7)
  AND ($8::uuid IS NULL OR j.ai_judging_run_id = $8)
"""


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
    """``(a > $n) OR (a = $n AND b < $m) OR …`` for a mixed-direction keyset."""
    clauses = []
    for i, (expr, cast, descending) in enumerate(columns):
        parts = [f"{e} = ${first_param + k}::{c}" for k, (e, c, _) in enumerate(columns[:i])]
        parts.append(f"{expr} {'<' if descending else '>'} ${first_param + i}::{cast}")
        clauses.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(clauses) + ")"


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
    run_row = await pool.fetchrow(queries()["get_evaluation_run"], eval_uuid)
    if run_row is None:
        raise NotFound("evaluation run", evaluation_run_id)
    scale = Scale(
        min=run_row["scale_min"], max=run_row["scale_max"], labels=run_row["scale_labels"]
    )
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
    sql = _BASE
    if cursor is not None:
        values = decode_cursor(cursor, length=len(columns))
        params += [_cursor_value(v, cast) for v, (_, cast, _) in zip(values, columns, strict=True)]
        sql += " AND " + _keyset(columns, first_param=9)
    order = ", ".join(f"{expr} {'DESC' if desc else 'ASC'}" for expr, _, desc in columns)
    sql += f" ORDER BY {order} LIMIT ${len(params) + 1}"
    params.append(limit + 1)
    rows = await pool.fetch(sql, *params)
    items = [Judgment(**judgment_fields(r, scale)) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        names = [name for name, _ in keys] + [name for name, _, _ in TIEBREAK]
        next_cursor = encode_cursor([_cursor_json(last[n]) for n in names])
    return Page[Judgment](items=items, next_cursor=next_cursor)


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
            at = datetime.fromisoformat(value)
            if at.tzinfo is None:
                raise ValueError(value)
            at.astimezone(UTC)
            return at
        if cast == "uuid":
            return UUID(value)
        if not isinstance(value, str) or "\x00" in value:
            raise TypeError(value)
        return value
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationFailed("invalid cursor", details=[{"loc": ["query", "cursor"]}]) from exc
