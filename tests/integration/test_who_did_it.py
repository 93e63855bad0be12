"""Who did it: judging runs, panel runs and judges name the token that started, cancelled
or changed them, and every write and delete of a human grade is kept, append-only, with
who and when (docs/security.md, "Who did it").

Two callers throughout: the static token of the test services (recorded as ``static``)
and a stored token named ``BOT``, made through the store as the token API would make it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from releval_judge.secrets import hash_token, new_token
from releval_judge.store.database import apply_schema
from releval_judge.store.human import HumanJudgments, HumanJudgmentWrite
from releval_judge.store.store import Store
from releval_judge.ui.session import csrf_token
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.fakes import (
    FakeProvider,
    FakeProviders,
    blocks,
    completion,
    document_ids,
    error,
    grade_all_two,
)
from tests.support.reviewing import candidate_ids
from tests.support.service import Service, ServiceFactory
from tests.support.ui import cookie_header, log_in, session_cookie, text
from tests.support.waiting import wait_for

BOT = "grading-bot"
STATIC = "static"
UNREACHABLE = "http://127.0.0.1:9/v1"


@pytest.fixture
async def bot(db: asyncpg.Pool) -> str:
    """A stored token named ``BOT`` with the write scope (as ``POST /tokens`` makes one)."""
    await apply_schema(db)  # the first test of a session may run before any service
    token = new_token()
    await Store(db).tokens.create(BOT, hash_token(token), ["write"])
    return token


async def as_token(
    service: Service, token: str, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    return await service.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )


async def get(service: Service, path: str) -> dict[str, Any]:
    status, body = await service.request("GET", path)
    assert status == 200, body
    result: dict[str, Any] = body
    return result


def who(thing: dict[str, Any]) -> tuple[str | None, str | None]:
    return thing["created_by"], thing["cancelled_by"]


# --- judging runs ----------------------------------------------------------------------


async def test_judging_runs_name_who_started_and_who_cancelled_them(
    service: Service, bot: str, fake_provider: FakeProviders
) -> None:
    # Calls wait for `answer`: the runs stay running until cancelled. A cancelled run's
    # event stream ends once the calls it had in flight are answered and recorded, so the
    # calls are let through before the stream is read.
    answer = asyncio.Event()

    async def held(prompt: str, call_no: int) -> web.Response:
        await answer.wait()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 1)))

    held_provider = await fake_provider(held)
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, held_provider.base_url)
    path = f"/evaluations/runs/{evaluation['id']}/ai-judge"

    by_static = await start_run(service, evaluation["id"], judge["id"])

    async def calling() -> bool:
        return held_provider.in_flight > 0

    await wait_for(calling)  # cancelled with calls in flight, every time
    status, by_bot = await as_token(service, bot, "POST", path, json={"ai_judge_id": judge["id"]})
    assert status == 201, by_bot
    assert who(by_static) == (STATIC, None)
    assert who(by_bot) == (BOT, None)

    # Each cancelled by the other caller; the cancel's answer says so.
    status, cancelled = await as_token(
        service, bot, "POST", f"/ai-judging-runs/{by_static['id']}/cancel"
    )
    assert status == 200 and who(cancelled) == (STATIC, BOT), cancelled
    status, cancelled = await service.request("POST", f"/ai-judging-runs/{by_bot['id']}/cancel")
    assert status == 200 and who(cancelled) == (BOT, STATIC), cancelled

    # A cancel of an ended run is refused and changes nothing.
    status, body = await service.request("POST", f"/ai-judging-runs/{by_static['id']}/cancel")
    assert_error(status, body, 409, "judging_run_ended")

    # A run that fails by itself was cancelled by no one.
    async def no_such_model(prompt: str, call_no: int) -> web.Response:
        return error(404, "The model `gpt-9` does not exist")

    refusing = await fake_provider(no_such_model)
    failing = await create_judge(service, refusing.base_url, name="refused", model="gpt-9")
    status, failed = await as_token(service, bot, "POST", path, json={"ai_judge_id": failing["id"]})
    assert status == 201, failed
    ended = await wait_until_ended(service, failed["id"])
    assert ended["status"] == "failed" and who(ended) == (BOT, None), ended

    # Every answer that shows a run: one run, the list, the event stream.
    expected = {
        by_static["id"]: (STATIC, BOT),
        by_bot["id"]: (BOT, STATIC),
        failed["id"]: (BOT, None),
    }
    for run_id, names in expected.items():
        assert who(await get(service, f"/ai-judging-runs/{run_id}")) == names
    page = await get(service, f"/evaluations/runs/{evaluation['id']}/ai-judging-runs")
    assert {item["id"]: who(item) for item in page["items"]} == expected
    answer.set()
    async with service.client.get(f"{service.api}/ai-judging-runs/{by_static['id']}/events") as r:
        stream = await r.text()
    end = stream.split("event: end\n", 1)[1]
    data = next(line for line in end.splitlines() if line.startswith("data: "))
    assert who(json.loads(data.removeprefix("data: "))) == (STATIC, BOT)


async def test_a_run_resumed_by_another_replica_keeps_who_started_it(
    services: ServiceFactory, bot: str, fake_provider: FakeProviders
) -> None:
    never = asyncio.Event()

    async def stalls_after_two(prompt: str, call_no: int) -> web.Response:
        if call_no > 2:
            await never.wait()
        return completion(blocks(dict.fromkeys(document_ids(prompt), 1)))

    provider = await fake_provider(stalls_after_two)
    try:
        first = await services.start(shutdown_grace_s=0.2)
        evaluation = await create_evaluation(first, queries=3, per_query=2)
        judge = await create_judge(first, provider.base_url, batch_size=2, concurrency=1)
        status, run = await as_token(
            first,
            bot,
            "POST",
            f"/evaluations/runs/{evaluation['id']}/ai-judge",
            json={"ai_judge_id": judge["id"]},
        )
        assert status == 201, run

        async def stalled() -> bool:
            body = await get(first, f"/ai-judging-runs/{run['id']}")
            return bool(body["judged"] == 4 and provider.in_flight == 1)

        await wait_for(stalled)
        await first.stop()  # its lease is given back; the other replica claims the run
        provider.respond = grade_all_two
        second = await services.start()
        final = await wait_until_ended(second, run["id"])
    finally:
        never.set()
    assert final["status"] == "completed" and final["judged"] == 6, final
    assert who(final) == (BOT, None)


# --- panel runs ------------------------------------------------------------------------


async def test_panel_runs_and_their_members_name_who_started_and_cancelled_them(
    service: Service, bot: str, stalled_provider: FakeProvider
) -> None:
    evaluation = await create_evaluation(service)
    judges = [
        await create_judge(service, stalled_provider.base_url, name=f"member {n}") for n in (1, 2)
    ]
    status, panel = await service.request(
        "POST", "/judge-panels", json={"name": "pair", "ai_judge_ids": [j["id"] for j in judges]}
    )
    assert status == 201, panel

    status, started = await as_token(
        service,
        bot,
        "POST",
        f"/evaluations/runs/{evaluation['id']}/judge-panel",
        json={"panel_id": panel["id"]},
    )
    assert status == 201, started
    assert who(started) == (BOT, None)
    members = [m["ai_judging_run_id"] for m in started["members"]]
    for member in members:
        assert who(await get(service, f"/ai-judging-runs/{member}")) == (BOT, None)

    status, cancelled = await service.request("POST", f"/panel-runs/{started['id']}/cancel")
    assert status == 200, cancelled
    assert cancelled["status"] == "cancelled" and who(cancelled) == (BOT, STATIC)
    assert who(await get(service, f"/panel-runs/{started['id']}")) == (BOT, STATIC)
    page = await get(service, f"/evaluations/runs/{evaluation['id']}/panel-runs")
    assert [who(p) for p in page["items"]] == [(BOT, STATIC)]
    # The members were cancelled through the panel run: by whoever cancelled it.
    for member in members:
        run = await get(service, f"/ai-judging-runs/{member}")
        assert run["status"] == "cancelled" and who(run) == (BOT, STATIC), run


# --- AI judges -------------------------------------------------------------------------


async def test_judges_name_who_created_and_who_last_changed_them(
    service: Service, bot: str
) -> None:
    judge = await create_judge(service, UNREACHABLE, name="watched judge")
    assert (judge["created_by"], judge["updated_by"]) == (STATIC, STATIC)

    status, patched = await as_token(
        service, bot, "PATCH", f"/ai-judges/{judge['id']}", json={"batch_size": 4}
    )
    assert status == 200, patched
    assert (patched["created_by"], patched["updated_by"]) == (STATIC, BOT)
    # A refused change is no change.
    status, body = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"batch_size": 0}
    )
    assert_error(status, body, 422, "validation_error")
    stored = await get(service, f"/ai-judges/{judge['id']}")
    assert (stored["created_by"], stored["updated_by"]) == (STATIC, BOT)

    status, patched = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"name": "renamed judge"}
    )
    assert status == 200 and patched["updated_by"] == STATIC, patched
    page = await get(service, "/ai-judges?limit=1000")
    listed = next(j for j in page["items"] if j["id"] == judge["id"])
    assert (listed["created_by"], listed["updated_by"]) == (STATIC, STATIC)

    status, made_by_bot = await as_token(
        service, bot, "POST", "/ai-judges", json={"name": "b", "provider": "openai", "model": "m"}
    )
    assert status == 201 and (made_by_bot["created_by"], made_by_bot["updated_by"]) == (BOT, BOT)


# --- human grades ----------------------------------------------------------------------


def _grade_path(evaluation_id: str, candidate_id: str, judge: str) -> str:
    return f"/evaluations/runs/{evaluation_id}/candidates/{candidate_id}/judgments/{judge}"


async def _history(
    service: Service, evaluation_id: str, candidate_id: str, **params: str
) -> list[dict[str, Any]]:
    """Every page of the candidate's history, followed through its cursors."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        status, page = await service.request(
            "GET",
            f"/evaluations/runs/{evaluation_id}/candidates/{candidate_id}/history",
            params=query,
        )
        assert status == 200, page
        assert set(page) == {"items", "next_cursor"}
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _changes(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(i["action"], i["judge"], i["grade"], i["reasoning"], i["by"]) for i in items]


async def test_every_write_and_delete_of_a_human_grade_is_kept_in_order_with_who(
    service: Service, bot: str, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    eval_id = evaluation["id"]
    ids = await candidate_ids(db, eval_id)
    cand = ids["d1-1"]
    alice = _grade_path(eval_id, cand, "alice")

    status, _ = await service.request("PUT", alice, json={"grade": 3, "reasoning": "first"})
    assert status == 200
    status, _ = await as_token(service, bot, "DELETE", alice)
    assert status == 204
    status, body = await as_token(service, bot, "DELETE", alice)  # nothing left to delete
    assert_error(status, body, 404, "not_found")
    status, _ = await as_token(service, bot, "PUT", alice, json={"grade": 1, "reasoning": "again"})
    assert status == 200
    status, _ = await service.request("PUT", _grade_path(eval_id, cand, "bob"), json={"grade": 2})
    assert status == 200

    expected = [
        ("put", "bob", 2, "", STATIC),
        ("put", "alice", 1, "again", BOT),
        ("delete", "alice", None, None, BOT),
        ("put", "alice", 3, "first", STATIC),
    ]
    history = await _history(service, eval_id, cand)
    assert _changes(history) == expected
    assert {i["candidate_id"] for i in history} == {cand}
    assert [i["at"] for i in history] == sorted((i["at"] for i in history), reverse=True)
    # One item a page, through the cursors: the same, in the same order.
    assert _changes(await _history(service, eval_id, cand, limit="1")) == expected
    assert _changes(await _history(service, eval_id, cand, judge="alice")) == expected[1:]
    assert await _history(service, eval_id, ids["d1-2"]) == []

    # A locked run refuses the write and the delete, and its history gains nothing.
    await service.request("PATCH", f"/evaluations/runs/{eval_id}", json={"locked": True})
    status, body = await service.request("PUT", alice, json={"grade": 0})
    assert_error(status, body, 409, "evaluation_run_locked")
    status, body = await as_token(service, bot, "DELETE", alice)
    assert_error(status, body, 409, "evaluation_run_locked")
    assert _changes(await _history(service, eval_id, cand)) == expected

    # A candidate that is not the run's, or a run that does not exist: 404.
    other = await create_evaluation(service, queries=1, per_query=1)
    other_cand = (await candidate_ids(db, other["id"]))["d1-1"]
    status, body = await service.request(
        "GET", f"/evaluations/runs/{eval_id}/candidates/{other_cand}/history"
    )
    assert_error(status, body, 404, "not_found")
    status, body = await service.request(
        "GET", f"/evaluations/runs/{other_cand}/candidates/{cand}/history"
    )
    assert_error(status, body, 404, "not_found")


async def test_bulk_human_judgments_are_kept_with_who_wrote_them(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    ids = await candidate_ids(db, evaluation["id"])
    writes = [
        HumanJudgmentWrite("q1", "d1-1", "carol", 2, "bulk"),
        HumanJudgmentWrite("q1", "d1-2", "carol", 0),
    ]
    assert await HumanJudgments(db).add(evaluation["id"], writes, by="importer") == 2
    assert _changes(await _history(service, evaluation["id"], ids["d1-1"])) == [
        ("put", "carol", 2, "bulk", "importer")
    ]
    assert _changes(await _history(service, evaluation["id"], ids["d1-2"])) == [
        ("put", "carol", 0, "", "importer")
    ]


async def test_grading_in_the_ui_is_kept_under_the_sessions_token(
    service: Service, bot: str, db: asyncpg.Pool
) -> None:
    """The UI grades through the API with its session cookie: the history names the token
    the reviewer logged in with."""
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    cand = (await candidate_ids(db, evaluation["id"]))["d1-1"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        response = await log_in(browser, service.base_url, token=bot)
        assert response.status == 303
        cookie = f"releval_session={session_cookie(response)['releval_session'].value}"
        async with browser.put(
            service.api + _grade_path(evaluation["id"], cand, "dana"),
            json={"grade": 1},
            headers={
                "Cookie": cookie,
                "X-CSRF-Token": csrf_token(bot),
                "Sec-Fetch-Site": "same-origin",
            },
        ) as put:
            assert put.status == 200, await put.text()
        # The static token's session, for contrast.
        static_cookie = await cookie_header(browser, service.base_url)
        async with browser.delete(
            service.api + _grade_path(evaluation["id"], cand, "dana"),
            headers={
                "Cookie": static_cookie,
                "X-CSRF-Token": csrf_token("test-token"),
                "Sec-Fetch-Site": "same-origin",
            },
        ) as deleted:
            assert deleted.status == 204, await deleted.text()
    assert _changes(await _history(service, evaluation["id"], cand)) == [
        ("delete", "dana", None, None, STATIC),
        ("put", "dana", 1, "", BOT),
    ]


async def test_the_database_refuses_to_change_or_remove_the_history(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=1)
    cand = (await candidate_ids(db, evaluation["id"]))["d1-1"]
    status, _ = await service.request(
        "PUT", _grade_path(evaluation["id"], cand, "erin"), json={"grade": 2}
    )
    assert status == 200
    where = "WHERE candidate_id = $1::uuid"
    for statement in [
        f"UPDATE human_judgment_history SET changed_by = 'someone else' {where}",
        f"UPDATE human_judgment_history SET grade = 0 {where}",
        f"DELETE FROM human_judgment_history {where}",
    ]:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(statement, cand)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("TRUNCATE human_judgment_history")
    assert _changes(await _history(service, evaluation["id"], cand)) == [
        ("put", "erin", 2, "", STATIC)
    ]

    # Applying the schema again (every start does) adds no second trigger.
    await apply_schema(db)
    triggers = await db.fetchval(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'human_judgment_history'::regclass"
    )
    assert triggers == 2

    # An evaluation run deleted by hand (no route deletes one) takes its grades with it
    # through the cascades; the history of what was done to them stays.
    await db.execute("DELETE FROM evaluation_runs WHERE id = $1::uuid", evaluation["id"])
    kept = await db.fetch(
        "SELECT action, judge, grade, changed_by FROM human_judgment_history "
        "WHERE candidate_id = $1::uuid",
        cand,
    )
    assert [tuple(r) for r in kept] == [("put", "erin", 2, STATIC)]


# --- the UI ----------------------------------------------------------------------------


async def test_the_ui_says_who_started_cancelled_and_last_changed(
    service: Service, bot: str, stalled_provider: FakeProvider
) -> None:
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, stalled_provider.base_url, name="ui judge")
    status, _ = await as_token(
        service, bot, "PATCH", f"/ai-judges/{judge['id']}", json={"batch_size": 2}
    )
    assert status == 200
    status, run = await as_token(
        service,
        bot,
        "POST",
        f"/evaluations/runs/{evaluation['id']}/ai-judge",
        json={"ai_judge_id": judge["id"]},
    )
    assert status == 201, run
    status, _ = await service.request("POST", f"/ai-judging-runs/{run['id']}/cancel")
    assert status == 200

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as login:
        cookie = await cookie_header(login, service.base_url)
    async with aiohttp.ClientSession(base_url=service.base_url, headers={"Cookie": cookie}) as page:
        run_page = await text(page, f"/ui/judging-runs/{run['id']}")
        evaluation_page = await text(page, f"/ui/runs/{evaluation['id']}")
        judge_page = await text(page, f"/ui/judges/{judge['id']}")
    assert "<dt>Started by</dt><dd>grading-bot</dd>" in run_page
    assert "<dt>Cancelled by</dt><dd>static</dd>" in run_page
    card = evaluation_page.split(f'data-judging-run="{run["id"]}"', 1)[1].split("</article>")[0]
    assert 'started by <span data-field="created_by">grading-bot</span>' in card
    assert 'cancelled by <span data-field="cancelled_by">static</span>' in card
    changed = judge_page.split('id="judge-changed">', 1)[1].split("</p>")[0]
    assert " by grading-bot · created by static" in changed
