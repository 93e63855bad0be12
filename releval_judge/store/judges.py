"""AI judges: stored, read, listed, replaced and deleted. Queries: ``judges.sql``.

A judge's settings are written as one JSON object, :class:`~releval_judge.models.JudgeConfig`
as it dumps, into the columns named after its fields (``{settings}`` in the SQL): a field
added to the model is stored once ``ai_judges`` has its column, and a field without one
is an error the first time a judge is written (tests/integration/test_judge_columns.py).
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from releval_judge.errors import JudgeInUse
from releval_judge.models import AiJudge, JudgeConfig, Page
from releval_judge.store.database import PoolUser
from releval_judge.store.pages import fetch_one, page, parse_uuid, time_cursor, time_key
from releval_judge.store.sql import queries

Q = queries()
SETTINGS = tuple(JudgeConfig.model_fields)
"""The columns of ``ai_judges`` that hold a judge's settings: one for each field."""


def _with_settings(sql: str) -> str:
    return sql.replace("{settings}", ", ".join(SETTINGS))


INSERT_JUDGE = _with_settings(Q["insert_judge"])
UPDATE_JUDGE = _with_settings(Q["update_judge"])


def judge(row: asyncpg.Record) -> AiJudge:
    data = dict(row)
    data["id"] = str(data["id"])
    data["api_key_set"] = data.pop("api_key_encrypted") is not None
    return AiJudge.model_validate(data)


def judge_config(row: asyncpg.Record) -> JudgeConfig:
    return JudgeConfig.model_validate({k: row[k] for k in SETTINGS})


async def hold_judge(conn: PoolConnectionProxy[asyncpg.Record], judge_id: str) -> JudgeConfig:
    """The judge's settings, its row locked until the transaction ends (so that no run
    starts on it while it is deleted or edited); NotFound when there is none."""
    return judge_config(await fetch_one(conn, Q["get_judge_for_update"], "AI judge", judge_id))


class Judges(PoolUser):
    """The AI judges' part of :class:`~releval_judge.store.store.Store`."""

    async def create_judge(self, config: JudgeConfig, *, by: str) -> AiJudge:
        """Store a new judge; ``by`` (a token's name) is its creator and last changer."""
        row = await self.pool.fetchrow(INSERT_JUDGE, config.model_dump(mode="json"), by)
        assert row is not None
        return judge(row)

    async def get_judge(self, judge_id: str) -> AiJudge:
        return judge(await fetch_one(self.pool, Q["get_judge"], "AI judge", judge_id))

    async def get_judge_config(self, judge_id: str) -> JudgeConfig:
        return judge_config(await fetch_one(self.pool, Q["get_judge"], "AI judge", judge_id))

    async def list_judges(self, *, limit: int, cursor: str | None) -> Page[AiJudge]:
        after_at, after_id = time_cursor(cursor)
        rows = await self.pool.fetch(Q["list_judges"], after_at, after_id, limit + 1)
        return page(Page[AiJudge], rows, limit, judge, time_key())

    async def update_judge(self, judge_id: str, config: JudgeConfig, *, by: str) -> AiJudge:
        """Replace the judge's settings; ``by`` (a token's name) becomes its last changer."""
        settings = config.model_dump(mode="json")
        return judge(await fetch_one(self.pool, UPDATE_JUDGE, "AI judge", judge_id, settings, by))

    async def delete_judge(self, judge_id: str) -> None:
        uuid = parse_uuid(judge_id, "AI judge")
        async with self.pool.acquire() as conn, conn.transaction():
            await hold_judge(conn, judge_id)
            active = await conn.fetchval(Q["count_active_runs_of_judge"], uuid)
            if active:
                raise JudgeInUse(judge_id, active)
            await conn.execute(Q["delete_judge"], uuid)
