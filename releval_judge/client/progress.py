"""A judging run's progress on a terminal: bar, counters, rate and ETA.

:class:`RateMeter` and :func:`progress_line` are pure; :class:`ProgressPrinter` writes to
a stream — redrawing one line on a terminal, printing a line now and then otherwise (logs,
CI), so the output stays readable either way.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from typing import TextIO

from releval_judge.models import JudgingRun


def format_count(value: float) -> str:
    """``950`` → ``950``, ``61234`` → ``61.2k``, ``3_400_000`` → ``3.4M``."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}"


def format_duration(seconds: float) -> str:
    """``4.2`` → ``4.2s``, ``75`` → ``1m15s``, ``4000`` → ``1h06m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class RateMeter:
    """Candidates per second over the last ``window_s`` seconds of samples."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> None:
        self._samples.append((now, done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def rate(self) -> float | None:
        """None until two samples some time apart exist."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 0.1:
            return None
        return max(0.0, (d1 - d0) / (t1 - t0))

    def eta_s(self, remaining: int) -> float | None:
        rate = self.rate()
        if rate is None or rate <= 0:
            return None
        return remaining / rate


def progress_line(
    run: JudgingRun,
    *,
    rate: float | None = None,
    eta_s: float | None = None,
    width: int = 24,
    color: bool = False,
) -> str:
    """``[██████▒░░░░]  52%  judged 150  failed 6  tokens 41.2k  38/s  ETA 4s  running``.

    ``█`` judged, ``▒`` failed, ``░`` still to do.
    """
    total = max(run.total, 1)
    judged_cells = math.floor(width * run.judged / total)
    failed_cells = min(width - judged_cells, math.ceil(width * run.failed / total))
    rest = width - judged_cells - failed_cells
    judged_bar, failed_bar = "█" * judged_cells, "▒" * failed_cells
    if color:
        judged_bar = f"\x1b[32m{judged_bar}\x1b[0m" if judged_bar else ""
        failed_bar = f"\x1b[31m{failed_bar}\x1b[0m" if failed_bar else ""
    parts = [
        f"[{judged_bar}{failed_bar}{'░' * rest}] {run.progress * 100:3.0f}%",
        f"judged {run.judged:,}",
        f"failed {run.failed:,}",
        f"tokens {format_count(run.input_tokens + run.output_tokens)}",
    ]
    if run.cached_input_tokens:
        parts.append(f"cached {format_count(run.cached_input_tokens)}")
    if run.cost is not None:
        parts.append(f"cost {run.cost.total:.4g}")
    if run.provider_batches and run.status == "running":
        parts.append(provider_batches_text(run))
    if rate is not None and run.status == "running":
        parts.append(f"{rate:,.1f}/s")
    if eta_s is not None and run.status == "running":
        parts.append(f"ETA {format_duration(eta_s)}")
    parts.append(run.status)
    return "  ".join(parts)


def provider_batches_text(run: JudgingRun) -> str:
    """``provider batch in_progress 120/300`` (several: ``provider batches 2/3 read``)."""
    batches = run.provider_batches
    if len(batches) == 1:
        batch = batches[0]
        counts = batch.request_counts
        done = sum(v for k, v in counts.items() if k not in ("total", "processing"))
        total = counts.get("total") or batch.requests
        return f"provider batch {batch.status} {done:,}/{total:,}"
    read = sum(1 for b in batches if b.results_read)
    return f"provider batches {read}/{len(batches)} read"


def use_color(stream: TextIO) -> bool:
    """ANSI colours on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class ProgressPrinter:
    """Shows a judging run's progress on ``stream`` (stderr by default)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        indent: str = "",
        line_every_s: float = 5.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.color = use_color(self.stream)
        self.indent = indent
        self.line_every_s = line_every_s
        self.meter = RateMeter()
        self._last_line_at = -math.inf
        self._last_status: str | None = None
        self._drawn = False

    def update(self, run: JudgingRun) -> None:
        now = time.monotonic()
        done = run.judged + run.failed
        self.meter.add(now, done)
        line = self.indent + progress_line(
            run,
            rate=self.meter.rate(),
            eta_s=self.meter.eta_s(run.total - done),
            color=self.color,
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        elif run.status != self._last_status or now - self._last_line_at >= self.line_every_s:
            self.stream.write(line + "\n")
            self._last_line_at = now
        self._last_status = run.status
        self.stream.flush()

    def finish(self) -> None:
        """End the redrawn line so that what follows starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
