"""What a person watching a judging run reads: the progress line, rate, ETA, summary."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from releval_judge.client.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, exit_code, summary
from releval_judge.client.progress import (
    ProgressPrinter,
    RateMeter,
    format_count,
    format_duration,
    progress_line,
)
from releval_judge.models import JudgingRun

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def judging_run(**fields: Any) -> JudgingRun:
    values: dict[str, Any] = {
        "id": "run-1",
        "evaluation_run_id": "eval-1",
        "ai_judge_id": "judge-1",
        "ai_judge_name": "judge",
        "status": "running",
        "total": 100,
        "judged": 0,
        "failed": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "error": None,
        "created_at": T0,
        "started_at": T0,
        "finished_at": None,
    }
    values.update(fields)
    return JudgingRun.model_validate(values)


@pytest.mark.parametrize(
    "value, text", [(0, "0"), (950, "950"), (61_234, "61.2k"), (3_400_000, "3.4M")]
)
def test_counts_are_short(value: int, text: str) -> None:
    assert format_count(value) == text


@pytest.mark.parametrize(
    "seconds, text", [(4.24, "4.2s"), (42, "42s"), (75, "1m15s"), (4000, "1h06m")]
)
def test_durations_are_short(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_bar_shows_judged_and_failed_apart() -> None:
    line = progress_line(
        judging_run(judged=50, failed=25, input_tokens=40_000, output_tokens=1_200),
        rate=12.5,
        eta_s=2.0,
        width=8,
    )
    assert line.startswith("[████▒▒░░]  75%")
    assert "judged 50" in line and "failed 25" in line
    assert "tokens 41.2k" in line
    assert "12.5/s" in line and "ETA 2.0s" in line
    assert line.endswith("running")


def test_an_ended_run_shows_no_rate_or_eta() -> None:
    line = progress_line(judging_run(status="completed", judged=100), rate=3.0, eta_s=1.0)
    assert "/s" not in line and "ETA" not in line
    assert "100%" in line


def test_rate_and_eta_come_from_recent_samples() -> None:
    meter = RateMeter(window_s=10)
    meter.add(0.0, 0)
    assert meter.rate() is None  # one sample says nothing yet
    meter.add(2.0, 100)
    assert meter.rate() == pytest.approx(50.0)
    assert meter.eta_s(500) == pytest.approx(10.0)
    for t in range(3, 30):
        meter.add(float(t), 100)  # stalled: the old burst leaves the window
    assert meter.rate() == 0.0
    assert meter.eta_s(500) is None


def test_off_a_terminal_the_printer_writes_a_line_per_change_of_status() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, line_every_s=3600)
    printer.update(judging_run(status="queued"))
    for judged in (10, 20, 30):
        printer.update(judging_run(judged=judged))
    printer.update(judging_run(status="completed", judged=100))
    printer.finish()
    lines = stream.getvalue().splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["queued", "running", "completed"]
    assert "\r" not in stream.getvalue()


def test_summary_and_exit_code_tell_how_the_run_ended() -> None:
    done = judging_run(
        status="completed", judged=98, failed=2, finished_at=T0 + timedelta(seconds=75)
    )
    assert summary(done).startswith("completed: 98 judged, 2 failed of 100")
    assert "1m15s" in summary(done)
    assert exit_code(done) == EXIT_OK

    failed = judging_run(status="failed", judged=10, error="authentication failed (HTTP 401)")
    assert "error: authentication failed" in summary(failed)
    assert "partially judged (90 not reached)" in summary(failed)
    assert exit_code(failed) == EXIT_FAILED
    assert exit_code(judging_run(status="cancelled")) == EXIT_CANCELLED
