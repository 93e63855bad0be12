"""Requests- and tokens-per-minute limits over a sliding 60-second window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class RateLimited:
    """Why a call was refused, and in how many whole seconds (≥ 1) a retry can pass."""

    kind: Literal["requests", "tokens"]
    limit: int
    used: int
    requested: int
    retry_after_s: int


class SlidingWindowLimiter:
    """Admits a call when the last 60 s of admitted calls leave room for it.

    Refused calls are not recorded. A call larger than the whole token limit is admitted
    when the window is empty, so that a retrying client always gets through eventually.
    The caller passes the time (monotonic seconds), which keeps this class pure.
    """

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None) -> None:
        self._rpm = requests_per_minute
        self._tpm = tokens_per_minute
        self._window: deque[tuple[float, int]] = deque()
        self._tokens = 0

    def admit(self, tokens: int, now: float) -> RateLimited | None:
        """Record the call and return None, or return why it is refused."""
        if self._rpm is None and self._tpm is None:
            return None
        window = self._window
        while window and window[0][0] <= now - WINDOW_S:
            self._tokens -= window.popleft()[1]
        if self._rpm is not None and len(window) >= self._rpm:
            return RateLimited(
                kind="requests",
                limit=self._rpm,
                used=len(window),
                requested=1,
                retry_after_s=_whole_seconds(window[len(window) - self._rpm][0] + WINDOW_S - now),
            )
        if self._tpm is not None and window and self._tokens + tokens > self._tpm:
            return RateLimited(
                kind="tokens",
                limit=self._tpm,
                used=self._tokens,
                requested=tokens,
                retry_after_s=_whole_seconds(self._room_at(tokens) - now),
            )
        window.append((now, tokens))
        self._tokens += tokens
        return None

    def _room_at(self, tokens: int) -> float:
        """When enough admitted calls will have left the window for ``tokens`` to fit."""
        assert self._tpm is not None
        remaining = self._tokens
        expiry = 0.0
        for at, spent in self._window:
            remaining -= spent
            expiry = at + WINDOW_S
            if remaining + tokens <= self._tpm:
                break
        return expiry


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))
