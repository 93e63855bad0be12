"""Scenario 9, ``--only reuse``: reuse by fingerprint (docs/decisions.md).

1. The next ranker: evaluation A (30 queries × 10 documents) judged, then evaluation B (the
   same queries, 8 of 10 documents the same, in other ranks, 2 new) by the same judge. What
   B sends: provider calls, shared candidates sent (target 0), its cost over A's (target ≤
   0.3), and whether every reused grade and reasoning is A's.
2. The look-up's overhead on a large run with nothing to reuse (1,000,000 candidates; quick:
   100,000): the same candidates judged three times by judges whose fingerprints match
   nothing, with ``reuse: "none"``, ``"fingerprint"``, ``"none"`` (the tables grow from run
   to run). The ``fingerprint`` run's judge has judged 10 other documents before, so its
   settings are known and the run checks every candidate against what was judged with them
   (a judge never used before would skip the look-up altogether). Every run computes and
   stores fingerprints; the difference is the look-up. Zero provider latency, so that the
   service's own work is the bound and any overhead shows.
"""

from __future__ import annotations

import uuid
from typing import Any

from bench.context import Bench, RunMeasure
from bench.data import _TEXTS, query_text
from bench.report import table
from releval_judge.prompt import DEFAULT_TEMPLATE

QUERIES = 30
DOCS = 10
SHARED = 8
PRICES: dict[str, Any] = {"input_price_per_mtok": 2.0, "output_price_per_mtok": 8.0}


def ranker(tag: str, *, next_ranker: bool) -> dict[str, Any]:
    """Evaluation A (``next_ranker`` False) or B: the same 30 queries; B keeps A's first
    eight documents (reversed: other ranks) and has two new ones."""
    queries = []
    for q in range(QUERIES):
        # Texts q·12 … q·12 + 11: A's ten and B's two new ones differ within a query (a new
        # document with a shared one's title and text would be the same question, reused).
        docs = [(f"{tag}-q{q}-d{d}", q * 12 + d) for d in range(DOCS)]
        if next_ranker:
            new = [(f"{tag}-q{q}-new{d}", q * 12 + DOCS + d) for d in range(DOCS - SHARED)]
            docs = docs[:SHARED][::-1] + new
        candidates = []
        for rank, (doc, n) in enumerate(docs, start=1):
            text = _TEXTS[n % len(_TEXTS)]
            candidates.append(
                {"doc_id": doc, "rank": rank, "title": text[:40].rsplit(" ", 1)[0], "text": text}
            )
        queries.append({"query_id": f"q{q}", "text": query_text(q), "candidates": candidates})
    return {
        "name": f"bench reuse {'B' if next_ranker else 'A'}",
        "status": "completed",
        "scale": {"min": 0, "max": 3},
        "queries": queries,
    }


async def scenario(bench: Bench) -> None:
    await _next_ranker(bench)
    await _overhead(bench)


async def _run(bench: Bench, evaluation_id: str, judge_id: str, reuse: str) -> dict[str, Any]:
    run = await bench.api.start_judging_run(evaluation_id, judge_id, reuse=reuse)
    final = await bench.api.watch(run.id, min_interval_s=0.1, max_interval_s=0.5)
    return final.model_dump(mode="json")


async def _judgments(bench: Bench, evaluation_id: str, run_id: str) -> dict[str, Any]:
    by_doc: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        params = {"ai_judging_run_id": run_id, "source": "ai", "limit": "1000"}
        if cursor:
            params["cursor"] = cursor
        page = await bench.api.request(
            "GET", f"/evaluations/runs/{evaluation_id}/judgments", params=params
        )
        by_doc.update({j["doc_id"]: (j["grade"], j["reasoning"]) for j in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return by_doc


async def _reused(bench: Bench, run_id: str) -> set[str]:
    """The documents whose judgment run `run_id` reused (``reused_from`` set)."""
    reused: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = await bench.api.request("GET", f"/ai-judging-runs/{run_id}/judgments", params=params)
        reused.update(j["doc_id"] for j in page["items"] if j["reused_from"] is not None)
        cursor = page["next_cursor"]
        if cursor is None:
            return reused


async def _next_ranker(bench: Bench) -> None:
    tag = uuid.uuid4().hex[:8]  # nothing judged before this session matches
    async with bench.sim(latency_ms=50.0) as sim:
        judge_id = await bench.judge(sim, concurrency=8, temperature=0, **PRICES)
        first_eval = (await bench.api.create_evaluation_run(ranker(tag, next_ranker=False))).id
        second_eval = (await bench.api.create_evaluation_run(ranker(tag, next_ranker=True))).id
        calls_0 = (await sim.stats()).calls
        first = await _run(bench, first_eval, judge_id, "fingerprint")
        calls_1 = (await sim.stats()).calls
        second = await _run(bench, second_eval, judge_id, "fingerprint")
        calls_2 = (await sim.stats()).calls
    before = await _judgments(bench, first_eval, first["id"])
    after = await _judgments(bench, second_eval, second["id"])
    reused_docs = await _reused(bench, second["id"])
    shared = [doc for doc in after if "-new" not in doc]
    identical = sum(1 for doc in shared if after[doc] == before.get(doc))
    shared_total = QUERIES * SHARED
    result = {
        "queries": QUERIES,
        "documents_per_query": DOCS,
        "shared_per_query": SHARED,
        "first_calls": calls_1 - calls_0,
        "second_calls": calls_2 - calls_1,
        "second_reused": second["reused"],
        # A shared candidate not reused was sent (judged or failed by B's own calls).
        "shared_candidates_sent": shared_total - len(reused_docs & set(shared)),
        "first_cost": first["cost"]["total"],
        "second_cost": second["cost"]["total"],
        "cost_ratio": second["cost"]["total"] / first["cost"]["total"],
        "reused_grades_identical": identical,
        "shared_candidates": shared_total,
        "first_input_tokens": first["input_tokens"],
        "second_input_tokens": second["input_tokens"],
    }
    bench.results["reuse_next_ranker"] = result
    table(
        f"9a. The next ranker: {QUERIES} queries × {DOCS} documents, {SHARED} shared "
        "(other ranks), same judge, batch 10",
        ["run", "calls", "reused", "shared sent", "input tok", "cost", "× first", "same grades"],
        [
            ["A", str(result["first_calls"]), "0", "-", f"{first['input_tokens']:,}",
             f"{result['first_cost']:.4f}", "1", "-"],
            ["B", str(result["second_calls"]), str(second["reused"]),
             str(result["shared_candidates_sent"]), f"{second['input_tokens']:,}",
             f"{result['second_cost']:.4f}", f"{result['cost_ratio']:.2f}",
             f"{identical}/{shared_total}"],
        ],
    )  # fmt: skip


async def _other_documents(bench: Bench) -> str:
    """A small evaluation whose query and documents no other evaluation of the bench has."""
    run = await bench.api.create_evaluation_run(
        {
            "name": "bench reuse other documents",
            "status": "completed",
            "scale": {"min": 0, "max": 3},
            "queries": [
                {
                    "query_id": "other",
                    "text": "a query no bench evaluation asks",
                    "candidates": [
                        {"doc_id": f"other-{d}", "rank": d, "text": f"other document {d}"}
                        for d in range(1, 11)
                    ],
                }
            ],
        }
    )
    return run.id


async def _overhead(bench: Bench) -> None:
    candidates = bench.mode.reuse_candidates
    evaluation_id, _ = await bench.evaluation(candidates)
    # "none" before and after, so that the growth of the tables between runs (every run
    # adds its judgments and fingerprints) weighs on both sides.
    order = ("none", "fingerprint", "none")
    measures: list[tuple[str, RunMeasure]] = []
    async with bench.sim(latency_ms=0.0) as sim:
        for n, reuse in enumerate(order):
            # A judge of its own per run (a template comment of its own: other fingerprints,
            # the same prompt), so that no run finds anything to reuse.
            judge_id = await bench.judge(
                sim, concurrency=32, prompt_template=f"{{# run {n} #}}" + DEFAULT_TEMPLATE
            )
            if reuse == "fingerprint":
                # The judge has judged other documents before: its settings are known, so
                # the run reads what they judged and checks every candidate against it
                # (a judge never used before skips even that).
                await _run(bench, await _other_documents(bench), judge_id, "none")
            measure = await bench.judge_run(evaluation_id, judge_id, sim, reuse=reuse)
            measures.append((reuse, measure))
    nones = [m for reuse, m in measures if reuse == "none"]
    lookup = next(m for reuse, m in measures if reuse == "fingerprint")
    none_s = sum(m.dispatch_s for m in nones) / len(nones)
    none_cpu = sum(m.cpu_us_per_candidate for m in nones) / len(nones)
    time_overhead = lookup.dispatch_s / none_s - 1
    cpu_overhead = lookup.cpu_us_per_candidate / none_cpu - 1
    result: dict[str, Any] = {
        "candidates": candidates,
        "concurrency": 32,
        "latency_ms": 0,
        "runs": [
            {
                "reuse": reuse,
                "judged": m.judged,
                "status": m.status,
                "dispatch_s": m.dispatch_s,
                "candidates_per_s": m.rate,
                "service_cpu_us_per_candidate": m.cpu_us_per_candidate,
                "db_cpu_s": m.db_cpu_s,
            }
            for reuse, m in measures
        ],
        "time_overhead": time_overhead,
        "service_cpu_overhead": cpu_overhead,
    }
    bench.results["reuse_overhead"] = result
    table(
        f"9b. Reuse look-up on a {candidates:,}-candidate run with nothing to reuse "
        "(conc 32, 0 ms, batch 10), in the order run",
        ["reuse", "judged", "s", "cands/s", "CPU µs/cand", "DB CPU s"],
        [
            [
                reuse,
                f"{m.judged:,}",
                f"{m.dispatch_s:.1f}",
                f"{m.rate:,.0f}",
                f"{m.cpu_us_per_candidate:.0f}",
                "-" if m.db_cpu_s is None else f"{m.db_cpu_s:.1f}",
            ]
            for reuse, m in measures
        ],
    )
    print(
        f"  look-up overhead against the mean of the two runs without: time "
        f"{100 * time_overhead:+.1f}%, service CPU {100 * cpu_overhead:+.1f}% (time: the "
        "run's started_at → finished_at; the machine is shared, so repeat before trusting "
        "a few per cent)"
    )
