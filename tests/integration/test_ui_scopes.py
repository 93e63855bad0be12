"""The UI leaves out or disables what the session's token may not do, and says why; the
header names the token and its scope. Any valid token logs in (docs/security.md)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import pytest

from releval_judge.ui.session import csrf_token
from tests.support.api import create_evaluation, create_judge, start_run
from tests.support.service import Service, ServiceFactory
from tests.support.tokens import create_token
from tests.support.ui import log_in, session_cookie, text

Login = Callable[[str], Awaitable[aiohttp.ClientSession]]
REFUSED = "Your token's scope is read"


@asynccontextmanager
async def _pages(service: Service) -> AsyncIterator[Login]:
    """``await login(scope)``: a client logged in to the UI with a new token of that scope."""
    sessions: list[aiohttp.ClientSession] = []

    async def login(scope: str) -> aiohttp.ClientSession:
        token = (await create_token(service, [scope], name=f"{scope} person"))["token"]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
            response = await log_in(browser, service.base_url, token)
        assert response.status == 303
        cookie = session_cookie(response)["releval_session"].value
        session = aiohttp.ClientSession(
            base_url=service.base_url,
            headers={"Cookie": f"releval_session={cookie}", "X-CSRF-Token": csrf_token(token)},
        )
        sessions.append(session)
        return session

    try:
        yield login
    finally:
        for session in sessions:
            await session.close()


@pytest.fixture
async def queued_only(services: ServiceFactory) -> Service:
    """A replica that never judges: a run it starts stays queued (and cancellable)."""
    return await services.start(role="api")


def tag(body: str, ident: str) -> str:
    """The opening tag of the element with this id."""
    match = re.search(rf'<[a-z]+ [^>]*id="{ident}"[^>]*>', body)
    assert match is not None, ident
    return match.group(0)


async def test_a_read_session_sees_the_run_page_without_start_or_cancel(
    queued_only: Service,
) -> None:
    service = queued_only
    evaluation = await create_evaluation(service)
    judge = await create_judge(service, "http://127.0.0.1:9/v1", name="listed judge")
    run = await start_run(service, evaluation["id"], judge["id"])
    async with _pages(service) as login:
        reader = await login("read")
        writer = await login("write")

        body = await text(reader, f"/ui/runs/{evaluation['id']}")
        assert "Token <strong>read person</strong>" in body
        assert re.search(r'class="badge scope-badge"[^>]*>read</span>', body)
        assert 'id="run-ai-judge-panel"' not in body and 'id="start-judging"' not in body
        button = tag(body, "run-ai-judge")
        assert "disabled" in button
        assert f"{REFUSED}: starting AI judging needs the write scope." in button
        card = body.split(f'data-judging-run="{run["id"]}"')[1].split("</article>")[0]
        assert 'data-can-cancel="false"' in card
        assert re.search(r'data-action="cancel" hidden>', card)
        # The card a started run would get (the page's template) cannot cancel either.
        assert 'data-can-cancel="true"' not in body

        body = await text(writer, f"/ui/runs/{evaluation['id']}")
        assert "Token <strong>write person</strong>" in body
        assert 'id="run-ai-judge-panel"' in body and 'id="start-judging"' in body
        assert "disabled" not in tag(body, "run-ai-judge")
        card = body.split(f'data-judging-run="{run["id"]}"')[1].split("</article>")[0]
        assert 'data-can-cancel="true"' in card
        assert re.search(r'data-action="cancel">Cancel', card)

        body = await text(reader, f"/ui/judging-runs/{run['id']}")
        assert 'data-can-cancel="false"' in body and 'data-can-cancel="true"' not in body

        # What the page hides, the API refuses to the same session cookie.
        async with reader.post(f"/api/v1/ai-judging-runs/{run['id']}/cancel") as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "forbidden"
        async with writer.post(f"/api/v1/ai-judging-runs/{run['id']}/cancel") as response:
            assert response.status == 200


async def test_a_read_session_cannot_grade_on_the_review_page_or_the_queue(
    service: Service, db: asyncpg.Pool
) -> None:
    evaluation = await create_evaluation(service, queries=1, per_query=2)
    candidate = await db.fetchval(
        "SELECT id::text FROM candidates WHERE evaluation_run_id = $1 ORDER BY rank LIMIT 1",
        uuid.UUID(evaluation["id"]),
    )
    status, _ = await service.request(
        "PUT",
        f"/evaluations/runs/{evaluation['id']}/candidates/{candidate}/judgments/bob",
        json={"grade": 2},
    )
    assert status == 200
    async with _pages(service) as login:
        reader = await login("read")
        writer = await login("write")
        review = f"/ui/runs/{evaluation['id']}/review"
        queue = f"/ui/runs/{evaluation['id']}/queue"

        body = await text(reader, review)
        assert 'data-candidate="' in body  # the judgment is listed
        assert 'class="grade-form"' not in body and 'id="reviewer-name"' not in body
        assert f"{REFUSED}: grading needs the write scope." in body
        body = await text(writer, review)
        assert 'class="grade-form"' in body and 'id="reviewer-name"' in body
        assert REFUSED not in body

        body = await text(reader, queue)
        assert 'data-can-grade="false"' in body and 'class="queue-grade"' not in body
        assert f"{REFUSED}: grading needs the write scope." in body
        body = await text(writer, queue)
        assert 'data-can-grade="true"' in body and 'class="queue-grade"' in body


async def test_a_read_session_sees_judges_but_cannot_create_change_or_test_them(
    service: Service,
) -> None:
    judge = await create_judge(service, "http://127.0.0.1:9/v1", name="a judge")
    async with _pages(service) as login:
        reader = await login("read")
        writer = await login("write")

        assert "New AI judge</a>" not in await text(reader, "/ui/judges")
        assert "New AI judge</a>" in await text(writer, "/ui/judges")

        body = await text(reader, f"/ui/judges/{judge['id']}")
        reason = f"{REFUSED}: creating or changing an AI judge needs the write scope."
        assert reason in body
        # Model, batches and limits, documents in the prompt; no Delete.
        assert body.count("<fieldset disabled>") == 3
        assert 'id="delete-judge"' not in body
        assert "readonly" in tag(body, "j-template")
        save = tag(body, "save-judge")
        assert "disabled" in save and reason in save
        test = tag(body, "run-test")
        assert "disabled" in test and "testing a judge needs the write scope" in test
        assert "disabled" not in tag(body, "preview-template")

        body = await text(writer, f"/ui/judges/{judge['id']}")
        assert REFUSED not in body and "<fieldset disabled>" not in body
        assert 'id="delete-judge"' in body
        assert "disabled" not in tag(body, "save-judge") and "disabled" not in tag(body, "run-test")

        body = await text(reader, "/ui/judges/new")
        assert "disabled" in tag(body, "save-judge")

        # The template preview changes nothing: read is enough.
        async with reader.post(
            "/ui/template-preview", json={"template": "{{ query }}"}
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["prompt"] == "wireless headphones"


async def test_the_header_names_a_static_token_as_admin(service: Service) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        response = await log_in(browser, service.base_url)
        cookie = session_cookie(response)["releval_session"].value
        async with browser.get(
            f"{service.base_url}/ui/runs", headers={"Cookie": f"releval_session={cookie}"}
        ) as page:
            body = html.unescape(await page.text())
    assert "Token <strong>static</strong>" in body
    assert re.search(r'class="badge scope-badge"[^>]*>admin</span>', body)
