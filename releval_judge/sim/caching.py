"""Prompt caching as the providers bill it: which part of a prompt was seen before.

OpenAI caches automatically: a prompt of at least 1,024 tokens hits the cache for its
longest prefix seen before (same model), counted in 128-token steps from 1,024 on. With
the simulator's four characters a token, that is a prefix of 4,096 characters plus a
multiple of 512. Anthropic caches explicitly: the prompt up to the last block marked
``cache_control``, when at least 1,024 tokens, is written to the cache the first time and
read from it afterwards.

Only hashes are kept, at most ``entries`` of them, the least recently used forgotten first.
Entries do not expire otherwise (the real caches keep a prefix for minutes).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from releval_judge.sim.grader import estimate_tokens

MIN_CACHED_TOKENS = 1024
_CHARS_PER_TOKEN = 4
_FIRST_BOUNDARY = MIN_CACHED_TOKENS * _CHARS_PER_TOKEN
_STEP = 128 * _CHARS_PER_TOKEN


@dataclass(frozen=True, slots=True)
class ExplicitCache:
    """What Anthropic bills for a marked prefix: its tokens, written or read."""

    kind: Literal["creation", "read"]
    tokens: int


class PromptCache:
    """Remembered prompt prefixes of both providers; one event loop, so no locking."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def clear(self) -> None:
        self._seen.clear()

    def automatic(self, model: str, prompt: str) -> int:
        """OpenAI: the cached tokens of ``prompt`` (0 on a miss); every prefix boundary of
        ``prompt`` is remembered for the calls that follow."""
        digest = hashlib.sha256(f"openai\0{model}\0".encode())
        cached_chars = 0
        start = 0
        for boundary in range(_FIRST_BOUNDARY, len(prompt) + 1, _STEP):
            digest.update(prompt[start:boundary].encode())
            start = boundary
            key = digest.copy().digest()
            if self._hit(key):
                cached_chars = boundary
        return cached_chars // _CHARS_PER_TOKEN

    def explicit(self, model: str, prefix: str) -> ExplicitCache | None:
        """Anthropic: how the marked ``prefix`` is billed, None when too short to cache."""
        tokens = estimate_tokens(prefix)
        if tokens < MIN_CACHED_TOKENS:
            return None
        key = hashlib.sha256(f"anthropic\0{model}\0{prefix}".encode()).digest()
        return ExplicitCache("read" if self._hit(key) else "creation", tokens)

    def _hit(self, key: bytes) -> bool:
        """Whether ``key`` was remembered; it is remembered (as the most recent) from now."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self._entries:
            self._seen.popitem(last=False)
        return False
