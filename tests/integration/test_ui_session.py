"""The web UI's session: the token in an HTTP-only, SameSite=Strict cookie; the API takes
that cookie from the UI's pages only with their CSRF token (docs/ui.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from releval_judge.ui.session import csrf_token
from tests.support.api import assert_error, create_evaluation, evaluation_body
from tests.support.service import TOKEN, Service, ServiceFactory
from tests.support.ui import cookie_header, log_in, session_cookie

CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]*)">')


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no cookies by itself: each test says what it sends."""
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=aiohttp.TCPConnector(force_close=True),
    ) as session:
        yield session


async def api(
    browser: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    **kwargs: Any,
) -> tuple[int, Any]:
    async with browser.request(method, url, headers=headers, **kwargs) as response:
        text = await response.text()
        return response.status, (await response.json(content_type=None)) if text else None


async def test_login_sets_an_http_only_same_site_strict_cookie(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    response = await log_in(browser, service.base_url, reviewer="Zoë N", next="/ui/judges")
    assert response.status == 303
    assert response.headers["Location"] == "/ui/judges"
    cookies = session_cookie(response)
    session = cookies["releval_session"]
    assert session["httponly"] is True
    assert session["samesite"] == "strict"
    assert session["path"] == "/"
    assert not session["secure"]  # plain HTTP here; HTTPS sets Secure
    assert TOKEN not in session.value  # encoded, not the raw token
    assert cookies["releval_reviewer"].value == "Zo%C3%AB%20N"  # as the page's script writes it


async def test_a_wrong_token_is_refused_with_a_message(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    async with browser.post(
        f"{service.base_url}/ui/login", data={"token": "nope"}, allow_redirects=False
    ) as response:
        assert response.status == 401
        assert "That token is not valid." in await response.text()
        assert "releval_session" not in response.headers.get("Set-Cookie", "")


async def test_login_never_redirects_off_the_ui(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/api/v1/ai-judges"):
        response = await log_in(browser, service.base_url, next=target)
        assert response.headers["Location"] == "/ui/runs", target


async def test_pages_send_a_visitor_without_a_session_to_the_login_page(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    async with browser.get(
        f"{service.base_url}/ui/runs?cursor=x", allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/ui/login?next=%2Fui%2Fruns%3Fcursor%3Dx"
    async with browser.get(
        f"{service.base_url}/ui/runs",
        headers={"Cookie": "releval_session=bm90LWEtdG9rZW4"},  # "not-a-token"
        allow_redirects=False,
    ) as response:
        assert response.status == 303


async def test_pages_forbid_framing_and_outside_scripts(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    cookie = await cookie_header(browser, service.base_url)
    async with browser.get(f"{service.base_url}/ui/runs", headers={"Cookie": cookie}) as page:
        assert page.status == 200
        policy = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy


async def test_the_api_still_refuses_a_request_without_token_or_cookie(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    status, body = await api(browser, "GET", f"{service.api}/evaluations/runs", {})
    assert_error(status, body, 401, "unauthorized")
    status, body = await api(
        browser, "POST", f"{service.api}/evaluations/runs", {}, json=evaluation_body()
    )
    assert_error(status, body, 401, "unauthorized")


async def test_the_cookie_reads_the_api_and_its_event_stream(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    cookie = await cookie_header(browser, service.base_url)
    status, page = await api(browser, "GET", f"{service.api}/evaluations/runs", {"Cookie": cookie})
    assert status == 200 and "items" in page
    # A cookie whose token is not (or no longer) valid is a 401 like a wrong bearer token.
    status, body = await api(
        browser,
        "GET",
        f"{service.api}/evaluations/runs",
        {"Cookie": "releval_session=bm90LWEtdG9rZW4"},
    )
    assert_error(status, body, 401, "unauthorized")


async def test_changes_with_the_cookie_need_the_pages_csrf_token(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    cookie = await cookie_header(browser, service.base_url)
    async with browser.get(f"{service.base_url}/ui/runs", headers={"Cookie": cookie}) as page:
        match = CSRF_META.search(await page.text())
    assert match is not None and match.group(1) == csrf_token(TOKEN)
    url = f"{service.api}/evaluations/runs"

    status, body = await api(browser, "POST", url, {"Cookie": cookie}, json=evaluation_body())
    assert_error(status, body, 403, "csrf_rejected")
    status, body = await api(
        browser,
        "POST",
        url,
        {"Cookie": cookie, "X-CSRF-Token": csrf_token("another token")},
        json=evaluation_body(),
    )
    assert_error(status, body, 403, "csrf_rejected")
    # Right token, but the browser says another origin made the request.
    for site in ("cross-site", "same-site"):
        status, body = await api(
            browser,
            "POST",
            url,
            {"Cookie": cookie, "X-CSRF-Token": match.group(1), "Sec-Fetch-Site": site},
            json=evaluation_body(),
        )
        assert_error(status, body, 403, "csrf_rejected")

    status, created = await api(
        browser,
        "POST",
        url,
        {"Cookie": cookie, "X-CSRF-Token": match.group(1), "Sec-Fetch-Site": "same-origin"},
        json=evaluation_body(),
    )
    assert status == 201, created


async def test_a_cross_site_form_post_with_the_cookie_changes_nothing(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    """What a browser sends when another site's page submits a form to the API: the
    cookie (had it not been SameSite=Strict, or from another port of the same host), a
    form body, the other origin, and no custom header."""
    cookie = await cookie_header(browser, service.base_url)
    evaluation = await create_evaluation(service)
    status, judge = await service.request(
        "POST",
        "/ai-judges",
        json={"name": "j", "provider": "openai", "model": "m", "api_key": "k"},
    )
    assert status == 201, judge
    for site in ("cross-site", "same-site", None):
        headers = {"Cookie": cookie, "Origin": "http://evil.example"}
        if site is not None:
            headers["Sec-Fetch-Site"] = site
        status, body = await api(
            browser,
            "POST",
            f"{service.api}/evaluations/runs/{evaluation['id']}/ai-judge",
            headers,
            data={"ai_judge_id": judge["id"]},
        )
        assert_error(status, body, 403, "csrf_rejected")
    status, runs = await service.request(
        "GET", f"/evaluations/runs/{evaluation['id']}/ai-judging-runs"
    )
    assert status == 200 and runs["items"] == []


async def test_a_bearer_token_ignores_the_cookie(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    status, body = await api(
        browser,
        "POST",
        f"{service.api}/evaluations/runs",
        {"Authorization": f"Bearer {TOKEN}", "Cookie": "releval_session=bm90LWEtdG9rZW4"},
        json=evaluation_body(),
    )
    assert status == 201, body


async def test_logout_needs_the_csrf_token_and_clears_the_cookie(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    cookie = await cookie_header(browser, service.base_url)
    async with browser.post(
        f"{service.base_url}/ui/logout", headers={"Cookie": cookie}, allow_redirects=False
    ) as response:
        assert response.status == 403
    async with browser.post(
        f"{service.base_url}/ui/logout",
        headers={"Cookie": cookie},
        data={"csrf_token": csrf_token(TOKEN)},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        cleared = session_cookie(response)["releval_session"]
        assert cleared.value == "" and cleared["max-age"] == "0"


async def test_template_preview_renders_without_saving(
    service: Service, browser: aiohttp.ClientSession
) -> None:
    cookie = await cookie_header(browser, service.base_url)
    url = f"{service.base_url}/ui/template-preview"
    headers = {"Cookie": cookie, "X-CSRF-Token": csrf_token(TOKEN)}
    status, body = await api(browser, "POST", url, {"Cookie": cookie}, json={"template": "x"})
    assert status == 403, body
    status, body = await api(browser, "POST", url, headers, json={"template": None})
    assert status == 200 and "Query: wireless headphones" in body["prompt"]
    assert '<document id="1">' in body["prompt"]
    status, body = await api(
        browser, "POST", url, headers, json={"template": "{{ query }}\n{{ nope.x }}"}
    )
    assert status == 422 and body["error"]["line"] == 2, body
    status, body = await api(browser, "POST", url, headers, json={"template": "{{ x | safe }}"})
    assert status == 422 and "safe" in body["error"]["message"], body


async def test_the_ui_under_a_gateway_prefix(
    services: ServiceFactory, browser: aiohttp.ClientSession
) -> None:
    """The gateway strips ``/releval`` (docs/gateway.md): requests arrive without it, and
    every link, form, redirect and cookie the UI makes must carry it."""
    service = await services.start(root_path="/releval")
    base = service.base_url
    async with browser.get(f"{base}/ui/login") as page:
        text = await page.text()
        assert page.status == 200
        assert 'href="/releval/ui/static/app.css' in text
        assert 'action="/releval/ui/login"' in text
    async with browser.get(f"{base}/ui/static/app.js") as script:
        assert script.status == 200
    response = await log_in(browser, base)
    assert response.headers["Location"] == "/releval/ui/runs"
    session = session_cookie(response)["releval_session"]
    assert session["path"] == "/releval/"
    status, _ = await api(
        browser,
        "GET",
        f"{base}/api/v1/evaluations/runs",
        {"Cookie": f"releval_session={session.value}"},
    )
    assert status == 200
