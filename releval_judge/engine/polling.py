"""How often a batch-delivery run asks the provider about its open batches.

A provider batch of a few requests is often done in seconds, a large one in hours. Polling
starts fast and backs off: the first wait is `FIRST_POLL_S`, each next one `POLL_FACTOR`
times the last, up to the provider-friendly interval (`RELEVAL_BATCH_POLL_S`, 30 s by
default), where it stays. So a small batch is read a few seconds after it ends, and a long
one costs the provider one status request per interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

FIRST_POLL_S: Final = 2.0
POLL_FACTOR: Final = 2.0


def poll_intervals(
    ceiling_s: float, *, first_s: float = FIRST_POLL_S, factor: float = POLL_FACTOR
) -> Iterator[float]:
    """The waits between polls, endless: `first_s`, then ×`factor` each time, never above
    `ceiling_s` (a ceiling below `first_s` is every wait)."""
    wait = min(first_s, ceiling_s)
    while True:
        yield wait
        wait = min(wait * factor, ceiling_s)
