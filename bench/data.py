"""Synthetic evaluation runs for the benchmarks: NDJSON candidate lines, made on the fly.

Documents are drawn from a fixed vocabulary so that the simulator's grader does its usual
work (query terms match some documents more than others); each document's text is about
``TEXT_CHARS`` characters (~100 tokens at four characters a token), a typical search
snippet. Generation is deterministic and cheap: a few hundred distinct texts rotate.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator

from releval_judge.prompt import PromptCandidate, default_template, render_prompt
from releval_judge.scale import Scale

PER_QUERY = 100  # candidates per query: a typical rerank depth, a multiple of any batch size
TEXT_CHARS = 400
DISTINCT_TEXTS = 257  # prime, so text and query cycles do not line up
SCALE = Scale(min=0, max=3, labels={0: "irrelevant", 1: "marginal", 2: "relevant", 3: "perfect"})

_WORDS_TEXT = (
    "battery solar energy storage grid power cell lithium charge voltage market price fund "
    "index share stock bond yield rate inflation bank loan credit garden tomato basil soil "
    "water leaf plant compost seed flower river mountain travel flight train ticket hotel "
    "city museum bread dough flour yeast oven recipe kitchen butter sugar chess opening king "
    "pawn bishop knight castle guitar chord string song melody rhythm piano running shoe "
    "trail road marathon training sleep health heart blood iron vitamin doctor symptom "
    "python list loop function class module error test server request database query index"
)
_WORDS = _WORDS_TEXT.split()


def _texts(seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(DISTINCT_TEXTS):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < TEXT_CHARS:
            words.append(rng.choice(_WORDS))
        texts.append(" ".join(words).capitalize() + ".")
    return texts


_TEXTS = _texts()


def query_text(q: int) -> str:
    rng = random.Random(q)
    return " ".join(rng.sample(_WORDS, 3))


def candidate_lines(count: int) -> Iterator[str]:
    """``count`` NDJSON lines (with their newline), 100 candidates per query."""
    query = ""
    for n in range(count):
        q, rank = divmod(n, PER_QUERY)
        if rank == 0:
            query = json.dumps(query_text(q))
        text = _TEXTS[n % DISTINCT_TEXTS]
        title = text[:40].rsplit(" ", 1)[0]
        yield (
            f'{{"query_id":"q{q}","query":{query},"doc_id":"d{n}","rank":{rank + 1},'
            f'"title":"{title}","text":"{text}"}}\n'
        )


async def ndjson_chunks(count: int, lines_per_chunk: int = 2000) -> AsyncIterator[bytes]:
    """The lines of :func:`candidate_lines`, in chunks for a streamed request body."""
    chunk: list[str] = []
    for line in candidate_lines(count):
        chunk.append(line)
        if len(chunk) == lines_per_chunk:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()


def sample_prompt(batch_size: int) -> str:
    """A prompt as the service renders it for one batch of these candidates (default
    template), for the bare client to send."""
    candidates = [
        PromptCandidate(
            id=str(i + 1),
            rank=i + 1,
            doc_id=f"d{i}",
            title=_TEXTS[i][:40].rsplit(" ", 1)[0],
            text=_TEXTS[i],
        )
        for i in range(batch_size)
    ]
    return render_prompt(
        default_template(), query=query_text(0), candidates=candidates, scale=SCALE
    )
