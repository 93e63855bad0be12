"""The web UI as a client without a browser sees it: logging in, the session cookie, and
a page's text (HTML unescaped)."""

from __future__ import annotations

import html
from http.cookies import SimpleCookie

import aiohttp

from tests.support.service import TOKEN


async def log_in(
    browser: aiohttp.ClientSession, base: str, token: str = TOKEN, **form: str
) -> aiohttp.ClientResponse:
    async with browser.post(
        f"{base}/ui/login",
        data={"token": token, **form},
        allow_redirects=False,
    ) as response:
        await response.read()
        return response


def session_cookie(response: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


async def cookie_header(browser: aiohttp.ClientSession, base: str) -> str:
    response = await log_in(browser, base)
    assert response.status == 303, response
    morsel = session_cookie(response)["releval_session"]
    return f"releval_session={morsel.value}"


async def text(session: aiohttp.ClientSession, path: str, status: int = 200) -> str:
    async with session.get(path, allow_redirects=False) as response:
        body = await response.text()
        assert response.status == status, body
        return html.unescape(body)
