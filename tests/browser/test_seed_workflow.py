"""The product documentation's workflow, in a real browser against a running service and
the provider simulator: log in, open the evaluation run, Run AI Judge, choose, Start,
watch the progress reach 100 %, review (both sorts), correct a grade, meet a locked run,
see a failed run's error, cancel a slow run and fill in its gaps. Each step leaves a
screenshot in tests/artifacts/ (desktop, plus the 390 px wide phone layout)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page, expect

from releval_judge.sim import SimConfig
from tests.support.browser import PHONE, watched_page
from tests.support.catalogue import evaluation_run
from tests.support.servers import LocalServers
from tests.support.service import TOKEN, Service, ServiceFactory
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

REVIEWER = "alice"


@pytest.fixture
async def fast_sim(local_servers: LocalServers) -> str:
    """Answers in 300 ms and always leaves the last candidate of a batch out, so every
    batch of five has one per-candidate failure (deterministic, whatever the order)."""
    port = await local_servers.sim(SimConfig(latency_ms=300, error_rate_fewer=1.0, seed=1))
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def slow_sim(local_servers: LocalServers) -> str:
    port = await local_servers.sim(SimConfig(latency_ms=2500))
    return f"http://127.0.0.1:{port}/v1"


async def _judge(service: Service, name: str, base_url: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": base_url,
        "api_key": "sk-sim",
        "batch_size": 5,
        "concurrency": 1,
        "max_retries": 0,
        **fields,
    }
    status, judge = await service.request("POST", "/ai-judges", json=body)
    assert status == 201, judge
    result: dict[str, Any] = judge
    return result


async def _shot(page: Page, artifacts: Path, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(artifacts / f"ui-{name}.png"), full_page=full_page)


async def _no_horizontal_scroll(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {page.viewport_size}"


async def _start_from_sidebar(page: Page, judge_label: str) -> None:
    """Run AI Judge → the judge from the dropdown → Start, with the keyboard."""
    await page.get_by_role("button", name="Run AI Judge").focus()
    await page.keyboard.press("Enter")
    select = page.get_by_label("AI judge")
    await expect(select).to_be_focused()
    await select.select_option(label=judge_label)
    await page.get_by_role("button", name="Start").click()


async def test_seed_workflow(
    services: ServiceFactory,
    local_servers: LocalServers,
    fast_sim: str,
    slow_sim: str,
    browser: BrowserContext,
    artifacts: Path,
) -> None:
    service = await services.start()
    status, evaluation = await service.request(
        "POST", "/evaluations/runs", json=evaluation_run("Outdoor & electronics, top 5")
    )
    assert status == 201, evaluation
    run_id = evaluation["id"]
    await _judge(service, "gpt-4o-mini judge", fast_sim)
    await _judge(service, "slow judge", slow_sim, model="slow-model", batch_size=3)
    await _judge(service, "unknown model judge", fast_sim, model="missing-model")
    run_url = f"{service.base_url}/ui/runs/{run_id}"

    page, errors = await watched_page(browser)

    # --- log in (the run page sends us to the login page and back) -------------------
    await page.goto(run_url)
    await expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    await page.get_by_label("API token").fill("not-the-token")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await _shot(page, artifacts, "01-login")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_label("Your name as a human judge").fill(REVIEWER)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(run_url)
    cookies = {c["name"]: c for c in await browser.cookies()}
    assert cookies["releval_session"]["httpOnly"] is True
    assert cookies["releval_session"]["sameSite"] == "Strict"

    # --- the evaluation run page -------------------------------------------------------
    await expect(page.get_by_role("heading", level=1)).to_have_text(evaluation["name"])
    await expect(page.locator("#evaluation-status")).to_have_text("completed")
    await expect(page.get_by_text("No AI judging run yet.")).to_be_visible()
    await _shot(page, artifacts, "02-run-page")

    # --- Run AI Judge → choose → Start; progress updates live up to 100 % -------------
    await page.get_by_role("button", name="Run AI Judge").click()
    await expect(page.get_by_label("AI judge")).to_be_visible()
    await page.get_by_label("AI judge").select_option(label="gpt-4o-mini judge (gpt-4o-mini)")
    await _shot(page, artifacts, "03-choose-judge")
    await page.evaluate(
        """() => {
            window.__percents = [];
            new MutationObserver(() => {
                const card = document.querySelector('#judging-runs .jr-card');
                const p = card && card.querySelector('[data-field="percent"]');
                if (p && window.__percents.at(-1) !== p.textContent) {
                    window.__percents.push(p.textContent);
                }
            }).observe(document.getElementById('judging-runs'),
                       {subtree: true, childList: true, characterData: true});
        }"""
    )
    await page.get_by_role("button", name="Start").click()
    card = page.locator("#judging-runs .jr-card").first
    await expect(card.locator('[data-field="status"]')).to_have_text(
        re.compile("queued|running"), timeout=2000
    )
    await expect(card.locator('[data-field="judged"]')).not_to_have_text("0")
    await _shot(page, artifacts, "04-progress")
    await expect(card.locator('[data-field="status"]')).to_have_text("completed")
    await expect(card.locator('[data-field="percent"]')).to_have_text("100%")
    await expect(card.locator("progress")).to_have_attribute("value", "100")
    percents: list[str] = await page.evaluate("window.__percents")
    assert percents[-1] == "100%", percents
    assert any(p not in ("0%", "100%") for p in percents), f"no live update seen: {percents}"
    await expect(card.locator('[data-field="judged"]')).to_have_text("24")
    await expect(card.locator('[data-field="failed"]')).to_have_text("6")
    assert int(await card.locator('[data-field="input_tokens"]').inner_text()) > 0
    await expect(card.locator('[role="status"]')).to_contain_text("completed, 100%")
    await _shot(page, artifacts, "05-completed")

    # --- the judging run: per-candidate failures with reasons and raw excerpts -------
    await card.get_by_role("link", name="gpt-4o-mini judge").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("gpt-4o-mini judge")
    failures = page.locator("table.failures tbody tr")
    await expect(failures).to_have_count(6)
    await expect(failures.first.locator("td").nth(3)).to_contain_text("missing")
    await expect(failures.first.locator("pre.excerpt")).to_contain_text("<candidate")
    await expect(page.locator("svg.chart rect[data-grade]")).to_have_count(4)
    await _shot(page, artifacts, "06-judging-run")
    # Its export is a plain link that the session cookie authenticates.
    href = await page.get_by_role("link", name="JSON Lines").get_attribute("href")
    exported = await page.request.get(f"{service.base_url}{href}")
    assert exported.status == 200
    assert len((await exported.text()).splitlines()) == 24

    # --- review: highly relevant first; not relevant at the top; correct a grade ------
    await page.get_by_role("link", name="Review its judgments").first.click()
    await page.get_by_role("link", name="Highly relevant first").click()
    await expect(page).to_have_url(re.compile(r"source=ai&sort=-grade%2Crank"))
    rows = page.locator("table.review tbody tr")
    await expect(rows).to_have_count(24)
    grades = [int(g) for g in await rows.locator("td:nth-child(4) .grade").all_inner_texts()]
    assert grades == sorted(grades, reverse=True) and grades[0] > grades[-1], grades
    await expect(rows.first.locator("td").nth(4)).to_contain_text("gpt-4o-mini judge")
    assert (await rows.first.locator("td.reasoning").inner_text()).strip() not in ("", "—")
    await _shot(page, artifacts, "07-review-relevant-first")

    # Correct the AI's top grade (and grade two more, for the agreement below).
    corrections = {0: 1, 1: grades[1], 2: 0}
    for index, grade in corrections.items():
        row = rows.nth(index)
        await row.get_by_label(re.compile("Your grade for")).select_option(str(grade))
        await row.get_by_role("button", name="Save").click()
        await expect(row.locator(".row-status")).to_have_text("Saved")
    await _shot(page, artifacts, "08-grade-corrected")
    status, human = await service.request(
        "GET", f"/evaluations/runs/{run_id}/judgments?source=human&sort=-grade,rank"
    )
    assert status == 200 and len(human["items"]) == 3, human
    assert {j["judge"] for j in human["items"]} == {REVIEWER}
    await page.reload()
    await expect(rows.first.locator("td.others")).to_contain_text(f"Human {REVIEWER}: 1")
    await expect(rows.first.get_by_label(re.compile("Your grade for"))).to_have_value("1")

    await page.get_by_role("link", name="Not relevant at the top of the results").click()
    await expect(page).to_have_url(re.compile(r"max_grade=0&max_rank=3&sort=rank"))
    for row in await rows.all():
        assert await row.locator("td:nth-child(4) .grade").inner_text() == "0"
        assert int(await row.locator("td:nth-child(2)").inner_text()) <= 3
    await _shot(page, artifacts, "09-review-not-relevant-on-top")

    # --- agreement with alice: the confusion matrix ----------------------------------
    await page.goto(f"{service.base_url}/ui/judging-runs/{(await _runs(service, run_id))[0]}")
    matrix = page.locator("#agreement-result svg.confusion")
    await expect(matrix).to_be_visible()
    await expect(matrix.locator("rect.cell")).to_have_count(16)
    total = sum(
        int(c)
        for c in await matrix.locator("rect.cell").evaluate_all(
            "cells => cells.map(c => c.dataset.count)"
        )
    )
    assert total == 3
    await _shot(page, artifacts, "10-agreement")

    # --- a locked run: grading refused with the API's message; Run AI Judge disabled -
    status, _ = await service.request("PATCH", f"/evaluations/runs/{run_id}", json={"locked": True})
    assert status == 200
    await page.goto(f"{run_url}/review?source=ai&sort=-grade,rank")
    row = rows.first
    await row.get_by_label(re.compile("Your grade for")).select_option("2")
    await row.get_by_role("button", name="Save").click()
    await expect(row.locator(".row-status")).to_contain_text("is locked")
    await _shot(page, artifacts, "11-locked-review")
    await page.goto(run_url)
    await expect(page.get_by_role("button", name="Run AI Judge")).to_be_disabled()
    await expect(page.locator("#run-ai-judge-reason")).to_contain_text("locked")
    await _shot(page, artifacts, "12-locked-run")
    status, _ = await service.request(
        "PATCH", f"/evaluations/runs/{run_id}", json={"locked": False}
    )
    assert status == 200

    # --- a run that fails: its error is shown --------------------------------------
    await page.reload()
    await _start_from_sidebar(page, "unknown model judge (missing-model)")
    card = page.locator("#judging-runs .jr-card").first
    await expect(card.locator('[data-field="status"]')).to_have_text("failed")
    await expect(card.locator('[data-field="error"]')).to_contain_text("missing-model")
    # Nothing judged: not "partially judged", no "Fill in the gaps" that would fail the
    # same way, but the way to the fix (live, then as the server renders it).
    for _ in range(2):
        await expect(card.locator('[data-field="nothing"]')).to_be_visible()
        await expect(card.locator('[data-field="partial"]')).to_be_hidden()
        await expect(card.get_by_role("button", name="Fill in the gaps")).to_be_hidden()
        await expect(card.get_by_role("link", name="Edit the judge")).to_have_attribute(
            "href", re.compile(r"/ui/judges/[0-9a-f-]{36}$")
        )
        await page.reload()

    # --- a slow run: a cross-site form cannot cancel it; Cancel does; fill the gaps --
    await _start_from_sidebar(page, "slow judge (slow-model)")
    card = page.locator("#judging-runs .jr-card").first
    await expect(card.locator('[data-field="status"]')).to_have_text("running")
    slow_id = await card.get_attribute("data-judging-run")
    assert slow_id
    await _cross_site_cancel_is_refused(browser, local_servers, service, slow_id)
    await expect(card.locator('[data-field="judged"]')).to_have_text("3", timeout=10_000)
    await card.get_by_role("button", name="Cancel").click()
    await expect(card.locator('[data-field="status"]')).to_have_text("cancelled")
    await expect(card.locator('[data-field="partial"]')).to_be_visible()
    await expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    fill = card.get_by_role("button", name="Fill in the gaps")
    await expect(fill).to_be_visible()
    await _shot(page, artifacts, "13-cancelled")
    await fill.click()
    gaps = page.locator("#judging-runs .jr-card").first
    await expect(gaps).not_to_have_attribute("data-judging-run", slow_id)  # the new run's card
    # The cancelled run's own scope again, taking what it judged without a call.
    await expect(gaps.locator('[data-field="scope"]')).to_have_text("scope: all")
    gaps_id = await gaps.get_attribute("data-judging-run")
    status, cancelled = await service.request("GET", f"/ai-judging-runs/{slow_id}")
    assert status == 200 and cancelled["judged"] >= 3, cancelled

    async def reused_the_cancelled_runs_judgments() -> bool:
        status, gap_run = await service.request("GET", f"/ai-judging-runs/{gaps_id}")
        assert status == 200 and gap_run["scope"] == "all", gap_run
        assert gap_run["ai_judge_name"] == "slow judge"
        return bool(gap_run["reused"] == cancelled["judged"])

    await wait_for(reused_the_cancelled_runs_judgments, timeout=10)
    await gaps.get_by_role("button", name="Cancel").click()
    await expect(gaps.locator('[data-field="status"]')).to_have_text("cancelled")
    await _shot(page, artifacts, "14-filled-gaps-then-cancelled")

    # --- 390 px wide ------------------------------------------------------------------
    await page.set_viewport_size(PHONE)
    await page.goto(run_url)
    await _no_horizontal_scroll(page)
    await _shot(page, artifacts, "15-phone-run-page")
    await page.goto(f"{run_url}/review?source=ai&sort=-grade,rank")
    await _no_horizontal_scroll(page)
    await _shot(page, artifacts, "16-phone-review", full_page=False)
    await rows.first.scroll_into_view_if_needed()
    await _shot(page, artifacts, "17-phone-review-rows", full_page=False)

    assert not errors, errors


async def _runs(service: Service, run_id: str) -> list[str]:
    """The evaluation run's judging run ids, oldest first."""
    status, page = await service.request("GET", f"/evaluations/runs/{run_id}/ai-judging-runs")
    assert status == 200, page
    return [item["id"] for item in reversed(page["items"])]


async def _cross_site_cancel_is_refused(
    browser: BrowserContext, local_servers: LocalServers, service: Service, judging_run_id: str
) -> None:
    """A page on another origin of the same site (another port of 127.0.0.1: the browser
    sends the SameSite=Strict cookie along) posts a form to the cancel route."""
    target = f"{service.api}/ai-judging-runs/{judging_run_id}/cancel"
    html = (
        f'<form id="f" method="post" action="{target}"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )

    async def evil(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", evil)
    port = await local_servers.serve(app)
    attacker = await browser.new_page()
    try:
        async with attacker.expect_response(target) as answer:
            await attacker.goto(f"http://127.0.0.1:{port}/")
        response = await answer.value
        sent = await response.request.all_headers()
        assert "releval_session=" in sent.get("cookie", ""), sent
        assert response.status == 403, await response.text()
        assert "csrf_rejected" in await response.text()
    finally:
        await attacker.close()

    async def still_running() -> bool:
        status, run = await service.request("GET", f"/ai-judging-runs/{judging_run_id}")
        return bool(status == 200 and run["status"] == "running")

    await wait_for(still_running, timeout=2)
