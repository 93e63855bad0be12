"""The judging-run card's reuse figures, the audit card of the judging-run page and the
list of a run's audits, read as HTML and JSON from a real service on real PostgreSQL with
the provider simulator (tests/browser/test_audit_card.py starts an audit from the page)."""

from __future__ import annotations

import re

import aiohttp
import pytest

from releval_judge.sim import SimConfig
from tests.support.api import create_evaluation, create_judge, start_run, wait_until_ended
from tests.support.audits import audit_of, judged_run
from tests.support.servers import LocalServers
from tests.support.service import Service
from tests.support.tokens import create_token
from tests.support.ui import log_in, session_cookie, text


@pytest.fixture
async def sim_port(local_servers: LocalServers) -> int:
    """``biased-model`` favours the first document of each batch by one grade."""
    return await local_servers.sim(
        SimConfig(
            latency_ms=0, seed=7, position_bias=1, behaviour_models=frozenset({"biased-model"})
        )
    )


def card(body: str, run_id: str) -> str:
    """The judging-run card of ``run_id`` on a page."""
    start = body.index(f'data-judging-run="{run_id}"')
    return body[start : body.index("</article>", start)]


def reused_part(card_html: str) -> str:
    match = re.search(r'<span data-field="reused-part"[^>]*>', card_html)
    assert match is not None
    return match.group(0)


async def test_the_card_counts_reused_judgments_within_judged(
    service: Service, page: aiohttp.ClientSession, sim_port: int
) -> None:
    judge = await create_judge(service, f"http://127.0.0.1:{sim_port}/v1", model="ui-reuse")
    evaluation = await create_evaluation(service, queries=3, per_query=4)
    # The first run calls for everything (whatever an earlier test judged), the second reuses.
    first = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"], reuse="none"))["id"]
    )
    second = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"]))["id"]
    )
    assert (first["reused"], second["judged"], second["reused"]) == (0, 12, 12), second

    for path in (f"/ui/runs/{evaluation['id']}", f"/ui/judging-runs/{second['id']}"):
        body = await text(page, path)
        reusing = card(body, second["id"])
        assert '<span data-field="judged">12</span> judged' in reusing
        assert "hidden" not in reused_part(reusing)
        assert '(<span data-field="reused">12</span> reused, no call)' in reusing
    calling = card(await text(page, f"/ui/runs/{evaluation['id']}"), first["id"])
    assert "hidden" in reused_part(calling)  # "(0 reused)" is not said
    # The card's script updates the figure from the event stream (app.js renderCard).
    script = await text(page, "/ui/static/app.js")
    assert '"reused-part").hidden = !run.reused' in script


async def test_the_audit_card_shows_the_verdict_figures_and_plot(
    service: Service, page: aiohttp.ClientSession, sim_port: int
) -> None:
    run = await judged_run(service, f"http://127.0.0.1:{sim_port}/v1", model="biased-model")
    body = await text(page, f"/ui/judging-runs/{run['id']}")
    assert "No audit of this run yet." in body
    assert re.search(r'<button type="submit" id="start-audit">', body)  # enabled

    audit = await audit_of(service, run["id"], seed=3)
    assert audit["verdict"] == "order_sensitive", audit
    body = await text(page, f"/ui/judging-runs/{run['id']}")
    section = body[body.index('id="audits"') : body.index('id="agreement-heading"')]
    assert "Verdict: order-sensitive" in section
    assert "A document's grade depends on where it stands in its batch" in section
    position = audit["position"]
    low, high = position["ci95"]
    assert (
        f"{position['first_minus_last']:+.2f} grade, 95% interval {low:+.2f} to {high:+.2f} "
        f"({position['pairs']} pairs)"
    ) in section
    assert f"{audit['repeat']['exact'] * 100:.0f}% of {audit['repeat']['pairs']}" in section
    assert f'<dd data-field="calls">{audit["calls"]}</dd>' in section
    # The plot: the mean grade when first above the mean grade when last, as the API says.
    assert position["mean_first"] - position["mean_last"] == pytest.approx(
        position["first_minus_last"]
    )
    means = dict(re.findall(r'data-position="(first|last)" data-mean="([0-9.]+)"', section))
    assert float(means["first"]) == pytest.approx(position["mean_first"], abs=1e-4)
    assert float(means["last"]) == pytest.approx(position["mean_last"], abs=1e-4)
    assert float(means["first"]) > float(means["last"])
    assert 'role="img"' in section and "Mean grade of the same documents" in section

    status, listed = await service.request("GET", f"/ai-judging-runs/{run['id']}/audits")
    assert status == 200, listed
    assert [a["id"] for a in listed["items"]] == [audit["id"]]
    assert listed["items"][0]["verdict"] == "order_sensitive"


async def test_a_read_token_sees_audits_but_cannot_start_one(
    service: Service, sim_port: int
) -> None:
    run = await judged_run(
        service, f"http://127.0.0.1:{sim_port}/v1", model="steady-model", queries=2
    )
    audit = await audit_of(service, run["id"], seed=1, sample_size=10)
    token = (await create_token(service, ["read"], name="reader"))["token"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        response = await log_in(browser, service.base_url, token)
    cookie = session_cookie(response)["releval_session"].value
    async with aiohttp.ClientSession(
        base_url=service.base_url, headers={"Cookie": f"releval_session={cookie}"}
    ) as reader:
        body = await text(reader, f"/ui/judging-runs/{run['id']}")
    button = re.search(r'<button type="submit" id="start-audit"[^>]*>', body)
    assert button is not None and "disabled" in button.group(0)
    assert "Your token's scope is read: starting an audit needs the write scope." in body
    assert "Verdict: consistent" in body and f'data-audit="{audit["id"]}"' in body


async def test_listing_the_audits_of_an_unknown_run_is_a_404(service: Service) -> None:
    status, body = await service.request(
        "GET", "/ai-judging-runs/00000000-0000-0000-0000-000000000000/audits"
    )
    assert status == 404, body
    status, body = await service.request(
        "GET", "/ai-judging-runs/00000000-0000-0000-0000-000000000000/audits?cursor=bogus"
    )
    assert status == 422, body
