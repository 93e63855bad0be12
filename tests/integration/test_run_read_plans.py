"""A run read (its progress, its evaluation's list of runs) plans its provider batches with
the statement: ``run_provider_batches`` is a set-returning SQL function that PostgreSQL
inlines. The scalar function it replaced was planned anew at every call, 60 µs of
PostgreSQL's CPU per read, as much as the rest of a status read (docs/benchmarks.md,
"uvloop and httptools"). A change that stops the inlining (a STRICT, a SET clause,
plpgsql) turns the join into a "Function Scan", which these plans must not have."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from releval_judge.store.judging_runs import Q
from tests.support.service import Service


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


@pytest.mark.parametrize(
    ("statement", "args"),
    [("get_judging_run", (uuid.uuid4(),)), ("list_judging_runs", (uuid.uuid4(), None, 21))],
)
async def test_run_reads_plan_their_provider_batches_inline(
    service: Service, db: asyncpg.Pool, statement: str, args: tuple[Any, ...]
) -> None:
    explained = await db.fetchval("EXPLAIN (FORMAT JSON) " + Q[statement], *args)
    planned = nodes(json.loads(explained)[0]["Plan"])
    assert not [n for n in planned if n["Node Type"] == "Function Scan"], planned
    assert "provider_batches" in {n.get("Relation Name") for n in planned}, planned
