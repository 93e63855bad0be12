"""Tokens to principals: static tokens (constant-time compare) and stored token hashes.

A stored token's principal is cached for at most ``RECHECK_S`` seconds (and never past
its expiry), so a token revoked on one replica is refused by every replica within that
time, at the cost of one indexed lookup per token per replica every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from releval_judge.access import STATIC_PRINCIPAL, Principal
from releval_judge.secrets import constant_time_in, hash_token

if TYPE_CHECKING:
    from releval_judge.store.tokens import TokenStore

RECHECK_S = 2.0


class TokenChecker:
    """``await checker(token)``: the token's principal, or None for an unknown, revoked
    or expired token."""

    def __init__(
        self,
        static_tokens: list[str],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.static_tokens = static_tokens
        self.tokens: TokenStore | None = None
        self._known: dict[str, tuple[Principal, float]] = {}
        # Clocks as parameters so a test can move them (tests/unit/test_token_checker.py).
        self._monotonic = monotonic
        self._wall = wall

    async def __call__(self, token: str) -> Principal | None:
        if self.static_tokens and constant_time_in(token, self.static_tokens):
            return STATIC_PRINCIPAL
        if self.tokens is None:
            return None
        digest = hash_token(token)
        now = self._monotonic()
        cached = self._known.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.tokens.principal(digest)
        if found is None:
            self._known.pop(digest, None)
            return None
        principal, expires_at = found
        until = now + RECHECK_S
        if expires_at is not None:
            until = min(until, now + max(expires_at.timestamp() - self._wall(), 0.0))
        self._known[digest] = (principal, until)
        return principal

    def forget(self, token_id: str) -> None:
        """Drop a revoked token from this replica's cache at once."""
        for digest, (principal, _) in list(self._known.items()):
            if principal.token_id == token_id:
                del self._known[digest]
