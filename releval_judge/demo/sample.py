"""The bundled sample evaluation run (``data/sample_corpus.json``) used by ``make demo``.

The corpus is made up for this project: 30 everyday queries on varied topics, each with
five documents written for it and graded 0–3 — one of them a lexical trap that shares
words with the query but answers something else, where a word-matching judge goes
wrong and a good one does not. Each query's result list adds five documents of other
queries (grade 0) and is ranked the way a decent but imperfect search engine would:
mostly by relevance, traps ranked high, with some noise. The same seed always gives the
same run. Pure: reading the packaged file is the only I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel

from releval_judge.scale import Scale
from releval_judge.store.human import HumanJudgmentWrite

SampleSize = Literal["full", "small"]
DISTRACTORS_PER_QUERY = 5
#: How many queries each size keeps, and on how many of them the human judge graded
#: every candidate.
SIZES: dict[SampleSize, tuple[int, int]] = {"full": (30, 12), "small": (5, 2)}

HUMAN_REASONING = {
    3: "Answers the query directly.",
    2: "On topic and useful, though not a complete answer.",
    1: "Same subject, but a different need.",
    0: "About something else.",
}
TRAP_REASONING = "Shares words with the query but is about something else."


class SampleDocument(BaseModel):
    doc_id: str
    title: str
    text: str
    grade: int


class SampleQuery(BaseModel):
    query_id: str
    text: str
    topic: str
    documents: list[SampleDocument]


class SampleCorpus(BaseModel):
    name: str
    description: str
    scale: Scale
    human_judge: str
    queries: list[SampleQuery]


@dataclass(frozen=True)
class SampleRun:
    """What the demo loads: the body of ``POST /evaluations/runs`` and the human grades."""

    name: str
    body: dict[str, Any]
    human_judgments: list[HumanJudgmentWrite]
    #: (query_id, doc_id) of the lexical traps: documents sharing words with the query
    #: that answer something else (graded 0 by the human judge).
    traps: frozenset[tuple[str, str]]
    query_count: int
    candidate_count: int


@cache
def sample_corpus() -> SampleCorpus:
    text = resources.files("releval_judge").joinpath("data/sample_corpus.json").read_text("utf-8")
    return SampleCorpus.model_validate_json(text)


def sample_run(size: SampleSize = "full", *, seed: int = 2024) -> SampleRun:
    """Build the sample evaluation run; ``small`` keeps the first 5 queries."""
    corpus = sample_corpus()
    query_count, judged_queries = SIZES[size]
    queries = corpus.queries[:query_count]
    # Results of other queries on other topics: graded 0 without room for doubt.
    pool = [(q.topic, d) for q in corpus.queries for d in q.documents if d.grade > 0]
    body_queries = []
    human: list[HumanJudgmentWrite] = []
    traps: set[tuple[str, str]] = set()
    for index, query in enumerate(queries):
        rng = random.Random(f"{seed}:{query.query_id}")
        others = [d for topic, d in pool if topic != query.topic]
        distractors = rng.sample(others, DISTRACTORS_PER_QUERY)
        scored: list[tuple[float, SampleDocument, int, bool]] = []
        for doc in query.documents:
            trap = doc.grade == 0
            # Word overlap fools search engines too: traps rank as if fairly relevant.
            score = (1.5 if trap else doc.grade) + rng.gauss(0, 0.8)
            scored.append((score, doc, doc.grade, trap))
        for doc in distractors:
            scored.append((rng.gauss(-0.5, 0.8), doc, 0, False))
        scored.sort(key=lambda item: item[0], reverse=True)
        candidates = []
        for rank, (_, doc, grade, trap) in enumerate(scored, start=1):
            candidates.append(
                {"doc_id": doc.doc_id, "rank": rank, "title": doc.title, "text": doc.text}
            )
            if trap:
                traps.add((query.query_id, doc.doc_id))
            if index < judged_queries:
                human.append(
                    HumanJudgmentWrite(
                        query_id=query.query_id,
                        doc_id=doc.doc_id,
                        judge=corpus.human_judge,
                        grade=grade,
                        reasoning=TRAP_REASONING if trap else HUMAN_REASONING[grade],
                    )
                )
        body_queries.append(
            {"query_id": query.query_id, "text": query.text, "candidates": candidates}
        )
    name = corpus.name if size == "full" else f"{corpus.name} (small)"
    return SampleRun(
        name=name,
        body={
            "name": name,
            "status": "completed",
            "scale": corpus.scale.model_dump(mode="json"),
            "queries": body_queries,
        },
        human_judgments=human,
        traps=frozenset(traps),
        query_count=len(body_queries),
        candidate_count=sum(len(q["candidates"]) for q in body_queries),
    )
