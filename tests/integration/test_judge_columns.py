"""A judge's settings are stored by their names: each field of JudgeConfig is a column of
ai_judges, every setting column is a field, and a judge written with every field set to a
value other than its default reads back equal; a snapshot written before a field existed
reads as the field's default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from releval_judge.models import BATCH_PRICE_FACTOR, JudgeConfig
from releval_judge.store.database import apply_schema, create_pool
from releval_judge.store.judges import SETTINGS
from releval_judge.store.judging_runs import run_cost
from releval_judge.store.store import Store

# Kept by the store itself rather than given by a judge's author.
BOOKKEEPING = {"id", "created_at", "updated_at", "created_by", "updated_by"}

EVERY_FIELD = JudgeConfig(
    name="every field",
    provider="openai",
    model="m",
    base_url="http://x/v1",
    api_key_encrypted="sealed",
    api_key_env="JUDGE_KEY",  # not both with a key through the API; the store keeps both
    prompt_template="{{ query }}",
    batch_size=7,
    concurrency=3,
    temperature=0.25,
    max_output_tokens=321,
    request_timeout_s=12.5,
    max_retries=2,
    requests_per_minute=60,
    tokens_per_minute=90_000,
    key_concurrency=5,
    input_price_per_mtok=1.5,
    output_price_per_mtok=6.0,
    cached_input_price_per_mtok=0.15,
    max_document_chars=4000,
    fields=["brand", "colour"],
    delivery="batch",
    reasoning_effort="low",
    batch_price_factor=0.4,
)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    pool = await create_pool(database_url, size=2)
    await apply_schema(pool)
    yield Store(pool)
    await pool.close()


async def test_every_setting_is_a_column_and_every_column_a_setting(store: Store) -> None:
    columns = await store.pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'ai_judges'"
    )
    assert {c["column_name"] for c in columns} - BOOKKEEPING == set(SETTINGS)


async def test_a_judge_reads_back_as_written(store: Store) -> None:
    defaults = JudgeConfig(name="n", provider="anthropic", model="another")
    assert all(getattr(EVERY_FIELD, name) != getattr(defaults, name) for name in SETTINGS), (
        "set every field to something other than its default"
    )
    created = await store.create_judge(EVERY_FIELD, by="columns test")
    assert await store.get_judge_config(created.id) == EVERY_FIELD
    changed = EVERY_FIELD.model_copy(update={"batch_size": 8, "fields": None, "delivery": "live"})
    await store.update_judge(created.id, changed, by="columns test")
    assert await store.get_judge_config(created.id) == changed
    judge = await store.get_judge(created.id)
    assert (judge.api_key_set, judge.created_by, judge.updated_by) == (
        True,
        "columns test",
        "columns test",
    )


def test_an_old_snapshot_reads_with_the_defaults_of_its_time() -> None:
    before_prices = {"name": "old", "provider": "openai", "model": "m", "temperature": 0.0}
    config = JudgeConfig.model_validate(before_prices)
    assert (config.delivery, config.batch_price_factor, config.prices) == (
        "live",
        BATCH_PRICE_FACTOR,
        None,
    )
    priced = {**before_prices, "input_price_per_mtok": 2.0, "output_price_per_mtok": 4.0}
    cost = run_cost(
        priced, delivery="batch", input_tokens=1_000_000, cached_input_tokens=0, output_tokens=0
    )
    assert cost is not None and cost.total == 2.0 * BATCH_PRICE_FACTOR
    assert (
        run_cost({}, delivery="live", input_tokens=1, cached_input_tokens=0, output_tokens=1)
        is None
    )
