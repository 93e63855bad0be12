"""Random evaluation runs with AI and human grades for the metrics tests, and the same
data as ir_measures qrels and runs (the reference the service is checked against)."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import ir_measures
from aiohttp import web

from tests.support.fakes import FakeProvider, Responder, blocks, completion
from tests.support.reviewing import candidate_ids, judge_with, put_human
from tests.support.servers import LocalServers
from tests.support.service import Service

TITLE = re.compile(r'<document id="(\d+)">\nTitle: (\S+)\n')
Source = Literal["ai", "human", "human_else_ai"]


@dataclass
class Doc:
    query_id: str
    doc_id: str
    rank: int
    ai: int | None
    # The human grades in the order they are recorded: (judge, grade).
    human: list[tuple[str, int]] = field(default_factory=list)

    def human_grade(self, judge: str | None) -> int | None:
        grades = [g for j, g in self.human if judge is None or j == judge]
        return grades[-1] if grades else None


@dataclass
class RunData:
    query_ids: list[str]
    docs: list[Doc]
    scale_min: int = 0
    scale_max: int = 3

    def ranked(self, query_id: str) -> list[Doc]:
        return sorted((d for d in self.docs if d.query_id == query_id), key=lambda d: d.rank)

    def body(self, name: str | None = None) -> dict[str, Any]:
        """The POST /evaluations/runs body, candidates in a shuffled (not rank) order."""
        shuffled = random.Random(len(self.docs)).sample(self.docs, len(self.docs))
        return {
            "name": name or f"metrics-{uuid.uuid4().hex[:8]}",
            "scale": {"min": self.scale_min, "max": self.scale_max},
            "queries": [
                {
                    "query_id": q,
                    "text": f"query {q}",
                    "candidates": [
                        {"doc_id": d.doc_id, "rank": d.rank, "title": d.doc_id}
                        for d in shuffled
                        if d.query_id == q
                    ],
                }
                for q in self.query_ids
            ],
        }


def random_run(
    rng: random.Random,
    *,
    queries: int = 8,
    max_candidates: int = 12,
    scale: tuple[int, int] = (0, 3),
    judges: Sequence[str] = ("alice", "bob"),
    human_share: float = 0.5,
    ai_share: float = 0.8,
    query_ids: Sequence[str] | None = None,
) -> RunData:
    """Random ranks (with gaps), grades on ``scale``, some candidates without AI grade,
    some with human grades by one judge or several (the later one overrides)."""
    low, high = scale
    ids = list(query_ids) if query_ids is not None else [f"q{i:02d}" for i in range(queries)]
    tag = uuid.uuid4().hex[:6]
    docs: list[Doc] = []
    for q in ids:
        count = rng.randint(0, max_candidates)
        ranks = sorted(rng.sample(range(1, 4 * max_candidates), count))
        for i, rank in enumerate(ranks):
            doc = Doc(
                q,
                f"{tag}-{q}-d{i}",
                rank,
                rng.randint(low, high) if rng.random() < ai_share else None,
            )
            if rng.random() < human_share:
                for judge in rng.sample(list(judges), rng.randint(1, len(judges))):
                    doc.human.append((judge, rng.randint(low, high)))
            docs.append(doc)
    return RunData(ids, docs, low, high)


def grade_titles(grades: Mapping[str, int | None]) -> Responder:
    """A provider grading each document by its title (the doc_id); None: no block, so the
    candidate fails and stays without AI grade."""

    async def respond(prompt: str, call_no: int) -> web.Response:
        found = {cid: grades.get(title) for cid, title in TITLE.findall(prompt)}
        return completion(blocks({cid: g for cid, g in found.items() if g is not None}))

    return respond


async def load(
    service: Service, db: asyncpg.Pool, data: RunData, *, name: str | None = None
) -> str:
    """Create the run, judge it with a provider that answers ``data``'s AI grades, record
    the human grades; returns the evaluation run id."""
    status, evaluation = await service.request("POST", "/evaluations/runs", json=data.body(name))
    assert status == 201, evaluation
    await judge(service, evaluation["id"], {d.doc_id: d.ai for d in data.docs})
    ids = await candidate_ids(db, evaluation["id"])
    for doc in data.docs:
        for judge_name, grade in doc.human:
            status, body = await put_human(
                service, evaluation["id"], ids[doc.doc_id], judge_name, grade
            )
            assert status == 200, body
    run_id: str = evaluation["id"]
    return run_id


async def judge(service: Service, evaluation_id: str, grades: Mapping[str, int | None]) -> str:
    """One judging run grading by title; returns its id once it has ended."""
    async with LocalServers() as servers:
        provider = await servers.start(FakeProvider(grade_titles(grades)))
        _, run = await judge_with(service, provider, evaluation_id, batch_size=10, concurrency=4)
    assert run["status"] == "completed", run
    judging_run_id: str = run["id"]
    return judging_run_id


def reference(
    data: RunData,
    measures: Mapping[str, Any],
    *,
    source: Source,
    judge: str | None = None,
    ai: Mapping[str, int | None] | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """ir_measures' means over every query of the run (0 where trec_eval skips a query
    without judgments) and per-query values, for ``measures`` (API name → ir_measures
    measure). Gains are grades − scale.min, as in the service."""
    qrels = []
    run = []
    for doc in data.docs:
        if doc.query_id not in data.query_ids:
            continue
        ai_grade = ai.get(doc.doc_id) if ai is not None else doc.ai
        human = doc.human_grade(judge)
        if source == "ai":
            grade = ai_grade
        elif source == "human":
            grade = human
        else:
            grade = human if human is not None else ai_grade
        if grade is not None:
            qrels.append(ir_measures.Qrel(doc.query_id, doc.doc_id, grade - data.scale_min))
    for q in data.query_ids:
        for position, doc in enumerate(data.ranked(q)):
            run.append(ir_measures.ScoredDoc(q, doc.doc_id, float(-position)))
    per_query: dict[str, dict[str, float]] = {
        q: dict.fromkeys(measures, 0.0) for q in data.query_ids
    }
    if qrels:
        for name, measure in measures.items():
            for metric in ir_measures.iter_calc([measure], qrels, run):
                per_query[metric.query_id][name] = metric.value
    means = {name: sum(v[name] for v in per_query.values()) / len(per_query) for name in measures}
    return means, per_query


def ir_measures_for(relevant_min_grade: int, scale_min: int = 0) -> dict[str, Any]:
    """The service's measures as ir_measures measures; rel is on the shifted grades."""
    rel = relevant_min_grade - scale_min
    return {
        "ndcg@5": ir_measures.nDCG @ 5,
        "ndcg@10": ir_measures.nDCG @ 10,
        "p@3": ir_measures.P(rel=rel) @ 3,
        "p@10": ir_measures.P(rel=rel) @ 10,
        "ap": ir_measures.AP(rel=rel),
        "rr": ir_measures.RR(rel=rel),
        "judged@5": ir_measures.Judged @ 5,
    }
