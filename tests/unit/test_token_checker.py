"""The token cache's bounds, on a clock the test moves: a replica asks the database again
at most ``RECHECK_S`` after it last did (so a revocation elsewhere reaches it within that
time), never trusts a token past its expiry, and forgets a token it revoked itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from releval_judge.access import Principal
from releval_judge.secrets import hash_token
from releval_judge.services.auth import RECHECK_S, TokenChecker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0  # both clocks: monotonic and the wall clock (epoch seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Tokens:
    """A TokenStore's ``principal`` over a dict, counting the lookups."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.live: dict[str, tuple[Principal, datetime | None]] = {}
        self.lookups = 0

    async def principal(self, token_hash: str) -> tuple[Principal, datetime | None] | None:
        self.lookups += 1
        found = self.live.get(token_hash)
        if found is None:
            return None
        expires_at = found[1]
        if expires_at is not None and expires_at.timestamp() <= self.clock.now:
            return None
        return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


def checker_with(tokens: Tokens) -> TokenChecker:
    def now() -> float:
        return tokens.clock.now

    checker = TokenChecker(["static-token"], monotonic=now, wall=now)
    checker.tokens = tokens  # type: ignore[assignment]
    return checker


ALICE = Principal(name="alice", scopes=frozenset({"write"}), token_id="t-1")


def test_a_revocation_elsewhere_is_seen_within_the_recheck_interval() -> None:
    assert RECHECK_S < 5  # the contract: every replica within 5 s


async def test_the_database_is_asked_again_after_recheck_s(clock: Clock) -> None:
    tokens = Tokens(clock)
    tokens.live[hash_token("alice-token")] = (ALICE, None)
    checker = checker_with(tokens)

    assert await checker("alice-token") == ALICE
    assert tokens.lookups == 1
    del tokens.live[hash_token("alice-token")]  # revoked by another replica

    clock.advance(RECHECK_S * 0.9)
    assert await checker("alice-token") == ALICE  # still cached
    assert tokens.lookups == 1
    clock.advance(RECHECK_S * 0.2)
    assert await checker("alice-token") is None
    assert tokens.lookups == 2


async def test_a_token_is_never_trusted_past_its_expiry(clock: Clock) -> None:
    tokens = Tokens(clock)
    expires = datetime.fromtimestamp(clock.now, UTC) + timedelta(seconds=RECHECK_S / 4)
    tokens.live[hash_token("short")] = (ALICE, expires)
    checker = checker_with(tokens)

    assert await checker("short") == ALICE
    clock.advance(RECHECK_S / 2)  # within the recheck interval, but past the expiry
    assert await checker("short") is None


async def test_forget_drops_a_revoked_token_at_once(clock: Clock) -> None:
    tokens = Tokens(clock)
    tokens.live[hash_token("alice-token")] = (ALICE, None)
    checker = checker_with(tokens)
    assert await checker("alice-token") == ALICE
    del tokens.live[hash_token("alice-token")]

    checker.forget("someone-else")
    assert await checker("alice-token") == ALICE
    checker.forget("t-1")
    assert await checker("alice-token") is None


async def test_static_tokens_are_admin_without_the_database(clock: Clock) -> None:
    tokens = Tokens(clock)
    principal = await checker_with(tokens)("static-token")
    assert principal is not None and principal.allows("admin") and principal.name == "static"
    assert tokens.lookups == 0
