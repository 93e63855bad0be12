"""Reuse by fingerprint (docs/decisions.md, "Reuse by fingerprint"), on a real PostgreSQL and
real HTTP: the next ranker's run sends only the documents the first ranker's run did not
judge; any deciding change (template, model, temperature, content, scale, a rank the
template shows) reuses nothing; failures are judged again; ``reuse: "none"``; the estimate's
``reusable``; batch delivery through the simulator; a panel's members, each on its own."""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from releval_judge.engine import run_context
from releval_judge.prompt import DEFAULT_TEMPLATE
from releval_judge.sim import SimConfig
from releval_judge.store.reuse import ReusableJudgment, Reuse
from tests.support.api import assert_error, create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProvider, FakeProviders, blocks, completion
from tests.support.panels import make_panel, wait_panel_ended
from tests.support.servers import LocalServers
from tests.support.service import Service, ServiceFactory, wait_until_idle

TITLE = re.compile(r'<document id="(\d+)">\nTitle: (\S+)')
PRICES = {"input_price_per_mtok": 2.0, "output_price_per_mtok": 8.0}


def ranker_body(
    *,
    queries: int = 3,
    new: int = 0,
    reverse: bool = False,
    scale: dict[str, Any] | None = None,
    text: str = "text of {doc}: " + "words a search result carries " * 20,
) -> dict[str, Any]:
    """An evaluation run of `queries` queries × 10 documents: documents 1–10, or the next
    ranker's (``new`` of them replaced by unseen ones, the others in reverse order when
    ``reverse``). Titles are the documents' ids, so a prompt shows which were sent."""

    def docs(q: int) -> list[str]:
        kept = [f"q{q}-doc{d}" for d in range(1, 11 - new)]
        if reverse:
            kept.reverse()
        return kept + [f"q{q}-new{d}" for d in range(1, new + 1)]

    return {
        "name": f"ranker-{uuid.uuid4().hex[:8]}",
        "scale": scale or {"min": 0, "max": 3},
        "queries": [
            {
                "query_id": f"q{q}",
                "text": f"query number {q}",
                "candidates": [
                    {"doc_id": doc, "rank": rank, "title": doc, "text": text.format(doc=doc)}
                    for rank, doc in enumerate(docs(q), start=1)
                ],
            }
            for q in range(1, queries + 1)
        ],
    }


async def create(service: Service, body: dict[str, Any]) -> str:
    status, created = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201, created
    return str(created["id"])


async def wavering(prompt: str, call_no: int) -> web.Response:
    """Grades that change from call to call: a grade written without a call to this
    provider can only have been copied."""
    grades = {
        cid: (zlib.crc32(title.encode()) + call_no) % 4 for cid, title in TITLE.findall(prompt)
    }
    return completion(
        blocks(grades), prompt_tokens=len(prompt) // 4, completion_tokens=50 * len(grades)
    )


def sent_titles(provider: FakeProvider, since: int = 0) -> list[str]:
    return [title for call in provider.calls[since:] for _, title in TITLE.findall(call.prompt)]


async def judge_run(
    service: Service, evaluation_id: str, judge_id: str, **body: Any
) -> dict[str, Any]:
    run = await start_run(service, evaluation_id, judge_id, **body)
    end = await wait_until_ended(service, run["id"])
    assert end["status"] == "completed", end
    return end


async def grades_by_doc(db: asyncpg.Pool, judging_run_id: str) -> dict[str, dict[str, Any]]:
    rows = await db.fetch(
        "SELECT c.doc_id, j.grade, j.reasoning, j.reused_from, j.fingerprint"
        " FROM ai_run_judgments j JOIN candidates c ON c.id = j.candidate_id"
        " WHERE j.ai_judging_run_id = $1::uuid",
        judging_run_id,
    )
    return {r["doc_id"]: dict(r) for r in rows}


async def test_the_next_ranker_sends_only_the_documents_not_judged_before(
    service: Service, fake_provider: FakeProviders, db: asyncpg.Pool
) -> None:
    provider = await fake_provider(wavering)
    judge = await create_judge(service, provider.base_url, batch_size=10, **PRICES)
    first_eval = await create(service, ranker_body())
    # The next ranker: 8 of 10 documents the same, in other ranks (the default template
    # does not show ranks), 2 new ones per query.
    second_eval = await create(service, ranker_body(new=2, reverse=True))

    first = await judge_run(service, first_eval, judge["id"])  # documents of ~150 tokens
    calls_before = len(provider.calls)
    second = await judge_run(service, second_eval, judge["id"])

    assert (first["judged"], first["reused"], calls_before) == (30, 0, 3)
    assert (second["judged"], second["failed"], second["reused"]) == (30, 0, 24)
    assert second["reuse"] == "fingerprint" and second["progress"] == 1.0
    # Not one call carried a shared document: one call per query, its two new documents.
    sent = sent_titles(provider, calls_before)
    assert sorted(sent) == sorted(f"q{q}-new{d}" for q in (1, 2, 3) for d in (1, 2))
    assert len(provider.calls) - calls_before == 3
    assert second["cost"]["total"] <= 0.3 * first["cost"]["total"], (first, second)
    # The shared documents got the first run's grades and reasoning, said where from.
    before, after = await grades_by_doc(db, first["id"]), await grades_by_doc(db, second["id"])
    for doc, judgment in after.items():
        if "new" in doc:
            assert judgment["reused_from"] is None and judgment["fingerprint"] is not None
            continue
        assert str(judgment["reused_from"]) == first["id"]
        assert (judgment["grade"], judgment["reasoning"]) == (
            before[doc]["grade"],
            before[doc]["reasoning"],
        )
        assert judgment["fingerprint"] == before[doc]["fingerprint"]
    status, listed = await service.request(
        "GET", f"/ai-judging-runs/{second['id']}/judgments", params={"limit": "100"}
    )
    assert status == 200, listed
    assert sorted(j["reused_from"] is None for j in listed["items"]) == [False] * 24 + [True] * 6
    assert {j["reused_from"] for j in listed["items"]} == {first["id"], None}
    # A third ranker reuses from whichever run called the provider (not a copy's run).
    third = await judge_run(service, await create(service, ranker_body(new=2)), judge["id"])
    assert third["reused"] == 30 and len(provider.calls) - calls_before == 3
    sources = {str(j["reused_from"]) for j in (await grades_by_doc(db, third["id"])).values()}
    assert sources == {first["id"], second["id"]}


def count_look_ups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many fingerprints each look-up in the database asks for, in order."""
    looked_up: list[int] = []
    original = Reuse.reusable_judgments

    async def counting(
        self: Reuse, fingerprints: Sequence[bytes], *, judging_run_id: str | None
    ) -> dict[bytes, ReusableJudgment]:
        looked_up.append(len(fingerprints))
        return await original(self, fingerprints, judging_run_id=judging_run_id)

    monkeypatch.setattr(Reuse, "reusable_judgments", counting)
    return looked_up


async def test_a_run_looks_up_only_what_an_earlier_run_with_its_settings_judged(
    service: Service, fake_provider: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fingerprint carries the run's settings: when no other run ever decided with the
    same settings (a new judge, a new template), no judgment can match, and the run pays no
    look-up. The next run with those settings holds what the earlier ones judged in memory
    and looks up only the candidates that may match; a run of new documents looks up
    nothing."""
    looked_up = count_look_ups(monkeypatch)
    provider = await fake_provider(wavering)
    # A template of its own: settings no earlier test's run had.
    template = "{# " + uuid.uuid4().hex + " #}" + DEFAULT_TEMPLATE
    judge = await create_judge(service, provider.base_url, batch_size=10, prompt_template=template)

    first = await judge_run(service, await create(service, ranker_body()), judge["id"])
    assert (first["judged"], first["reused"], looked_up) == (30, 0, [])

    second = await judge_run(service, await create(service, ranker_body(new=2)), judge["id"])
    assert (second["judged"], second["reused"]) == (30, 24)
    assert sum(looked_up) == 24  # the 6 new documents are not looked up

    calls = len(provider.calls)
    unseen = ranker_body(text="a text no earlier run judged: {doc}")
    third = await judge_run(service, await create(service, unseen), judge["id"])
    assert (third["judged"], third["reused"], sum(looked_up)) == (30, 0, 24)
    assert len(provider.calls) - calls == 3  # one call per query: everything was sent


async def test_too_many_known_fingerprints_to_hold_looks_every_page_up(
    service: Service, fake_provider: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over KNOWN_FINGERPRINTS_MAX known fingerprints the run keeps none in memory: it looks
    every candidate up in the database, and reuses the same."""
    monkeypatch.setattr(run_context, "KNOWN_FINGERPRINTS_MAX", 29)
    looked_up = count_look_ups(monkeypatch)
    provider = await fake_provider(wavering)
    template = "{# " + uuid.uuid4().hex + " #}" + DEFAULT_TEMPLATE
    judge = await create_judge(service, provider.base_url, batch_size=10, prompt_template=template)
    await judge_run(service, await create(service, ranker_body()), judge["id"])  # 30 known
    second = await judge_run(service, await create(service, ranker_body(new=2)), judge["id"])
    assert (second["judged"], second["reused"], sum(looked_up)) == (30, 24, 30)


@pytest.mark.parametrize(
    ("change", "reused"),
    [
        (
            {
                "judge": {
                    "prompt_template": "Q: {{ query }}\n{% for c in candidates %}"
                    '<document id="{{ c.id }}">\nTitle: {{ c.title }}\n</document>\n'
                    "{% endfor %}"
                }
            },
            0,
        ),
        ({"judge": {"model": "another-model"}}, 0),
        ({"judge": {"temperature": 0.7}}, 0),
        ({"judge": {"max_output_tokens": 999}}, 0),
        ({"evaluation": {"text": "changed text of {doc}"}}, 0),
        ({"evaluation": {"scale": {"min": 0, "max": 4}}}, 0),
        # Not deciding: how the answer is asked for.
        ({"judge": {"batch_size": 4, "concurrency": 1, "max_retries": 0}}, 30),
        # A document rule that cuts nothing leaves every prompt as it was.
        ({"judge": {"max_document_chars": 10_000}}, 30),
    ],
    ids=[
        "template",
        "model",
        "temperature",
        "output-cap",
        "content",
        "scale",
        "batch-size-etc",
        "rule-cutting-nothing",
    ],
)
async def test_a_deciding_change_reuses_nothing(
    service: Service, fake_provider: FakeProviders, change: dict[str, Any], reused: int
) -> None:
    provider = await fake_provider(wavering)
    judge = await create_judge(service, provider.base_url, batch_size=10, temperature=0)
    await judge_run(service, await create(service, ranker_body()), judge["id"])
    if "judge" in change:
        status, patched = await service.request(
            "PATCH", f"/ai-judges/{judge['id']}", json=change["judge"]
        )
        assert status == 200, patched
    again = await create(service, ranker_body(**change.get("evaluation", {})))
    calls_before = len(provider.calls)

    end = await judge_run(service, again, judge["id"])

    assert (end["judged"], end["reused"]) == (30, reused)
    assert len(sent_titles(provider, calls_before)) == 30 - reused


async def test_a_template_that_shows_the_rank_reuses_only_documents_at_the_same_rank(
    service: Service, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(wavering)
    template = (
        "Q: {{ query }}\n{% for c in candidates %}"
        '<document id="{{ c.id }}">\nTitle: {{ c.title }}\nRank {{ c.rank }}\n</document>\n'
        "{% endfor %}"
    )
    judge = await create_judge(service, provider.base_url, batch_size=10, prompt_template=template)
    await judge_run(service, await create(service, ranker_body(queries=1)), judge["id"])

    # Reversed: documents 1–10 at ranks 10–1; none keeps its rank.
    end = await judge_run(
        service, await create(service, ranker_body(queries=1, reverse=True)), judge["id"]
    )

    assert (end["judged"], end["reused"]) == (10, 0)


async def test_failures_are_judged_again(
    service: Service, fake_provider: FakeProviders, db: asyncpg.Pool
) -> None:
    omit = {"q1-doc3", "q2-doc7"}

    async def forgetful(prompt: str, call_no: int) -> web.Response:
        # Leaves out the documents in `omit`: "fewer candidates than were sent".
        grades = {cid: 1 for cid, title in TITLE.findall(prompt) if title not in omit}
        return completion(blocks(grades))

    provider = await fake_provider(forgetful)
    judge = await create_judge(service, provider.base_url, batch_size=10)
    evaluation = await create(service, ranker_body(queries=2))
    first = await judge_run(service, evaluation, judge["id"])
    assert (first["judged"], first["failed"]) == (18, 2)
    omit.clear()
    calls_before = len(provider.calls)

    second = await judge_run(service, evaluation, judge["id"])

    assert (second["judged"], second["failed"], second["reused"]) == (20, 0, 18)
    assert sorted(sent_titles(provider, calls_before)) == ["q1-doc3", "q2-doc7"]
    judged = await grades_by_doc(db, second["id"])
    assert judged["q1-doc3"]["reused_from"] is None


async def test_reuse_none_sends_every_candidate(
    service: Service, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(wavering)
    judge = await create_judge(service, provider.base_url, batch_size=10)
    evaluation = await create(service, ranker_body(queries=2))
    await judge_run(service, evaluation, judge["id"])
    calls_before = len(provider.calls)

    end = await judge_run(service, evaluation, judge["id"], reuse="none")

    assert (end["judged"], end["reused"], end["reuse"]) == (20, 0, "none")
    assert len(sent_titles(provider, calls_before)) == 20
    status, body = await service.request(
        "POST",
        f"/evaluations/runs/{evaluation}/ai-judge",
        json={"ai_judge_id": judge["id"], "reuse": "always"},
    )
    error = assert_error(status, body, 422, "validation_error")
    assert "reuse" in str(error["details"])


async def test_the_estimate_counts_what_reuse_saves_and_prices_only_the_rest(
    service: Service, fake_provider: FakeProviders
) -> None:
    provider = await fake_provider(wavering)
    judge = await create_judge(service, provider.base_url, batch_size=10, **PRICES)
    await judge_run(service, await create(service, ranker_body()), judge["id"])
    second_eval = await create(service, ranker_body(new=2, reverse=True))

    async def estimate(**body: Any) -> dict[str, Any]:
        status, answer = await service.request(
            "POST",
            f"/evaluations/runs/{second_eval}/ai-judge/estimate",
            json={"ai_judge_id": judge["id"], **body},
        )
        assert status == 200, answer
        return dict(answer)

    with_reuse, without = await estimate(), await estimate(reuse="none")

    assert (with_reuse["candidates"], with_reuse["reusable"], with_reuse["batches"]) == (30, 24, 3)
    assert (without["candidates"], without["reusable"], without["batches"]) == (30, 0, 3)
    assert with_reuse["rendered_candidates"] == 6
    assert with_reuse["estimated_input_tokens"] < 0.5 * without["estimated_input_tokens"]
    assert with_reuse["expected_output_tokens"] < 0.3 * without["expected_output_tokens"]
    assert with_reuse["cost"]["total"] <= 0.5 * without["cost"]["total"]
    # The run then reuses what the estimate said.
    end = await judge_run(service, second_eval, judge["id"])
    assert end["reused"] == with_reuse["reusable"]


async def test_batch_delivery_reuses_and_puts_only_the_rest_into_the_provider_batch(
    services: ServiceFactory, local_servers: LocalServers, db: asyncpg.Pool
) -> None:
    port = await local_servers.sim(SimConfig(latency_ms=0, seed=7, batch_completion_s=0.3))
    service = await services.start(batch_poll_s=0.1)
    judge = await create_judge(
        service, f"http://127.0.0.1:{port}/v1", delivery="batch", batch_size=10
    )

    first = await judge_run(service, await create(service, ranker_body()), judge["id"])
    second = await judge_run(
        service, await create(service, ranker_body(new=2, reverse=True)), judge["id"]
    )
    third = await judge_run(service, await create(service, ranker_body()), judge["id"])
    await wait_until_idle(service)

    assert (first["judged"], first["reused"]) == (30, 0)
    # The provider batch's answers were fingerprinted when they were written: reusable.
    assert (second["judged"], second["reused"]) == (30, 24)
    [batch] = second["provider_batches"]
    assert batch["requests"] == 3  # one per query, its two new documents only
    requests = await db.fetch(
        "SELECT candidates FROM provider_requests WHERE judging_run_id = $1::uuid", second["id"]
    )
    assert sorted(r["candidates"] for r in requests) == [2, 2, 2]
    # Everything answered already: no provider batch at all.
    assert (third["judged"], third["reused"], third["provider_batches"]) == (30, 30, [])
    assert (third["input_tokens"], third["output_tokens"]) == (0, 0)


async def test_each_panel_member_reuses_its_own_judgments(
    service: Service, fake_provider: FakeProviders, db: asyncpg.Pool
) -> None:
    providers = [await fake_provider(wavering) for _ in range(2)]
    panel = await make_panel(service, providers)

    async def panel_run(evaluation: str) -> list[dict[str, Any]]:
        status, run = await service.request(
            "POST", f"/evaluations/runs/{evaluation}/judge-panel", json={"panel_id": panel["id"]}
        )
        assert status == 201, run
        end = await wait_panel_ended(service, run["id"])
        assert end["status"] == "completed", end
        members = []
        for member in end["members"]:
            status, body = await service.request(
                "GET", f"/ai-judging-runs/{member['ai_judging_run_id']}"
            )
            members.append(body)
        return members

    first = await panel_run(await create(service, ranker_body(queries=2)))
    calls = [len(p.calls) for p in providers]
    second = await panel_run(await create(service, ranker_body(queries=2, new=2)))

    for position, (before, after) in enumerate(zip(first, second, strict=True)):
        assert (after["judged"], after["reused"]) == (20, 16)
        sources = {
            str(j["reused_from"])
            for j in (await grades_by_doc(db, after["id"])).values()
            if j["reused_from"] is not None
        }
        assert sources == {before["id"]}, position  # its own judge's run, not the other's
        assert len(sent_titles(providers[position], calls[position])) == 4
