"""Prometheus metrics: one registry per app (no module-level globals), served at /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.judging_runs = Gauge(
            "releval_judging_runs", "AI judging runs by status", ["status"], registry=r
        )
        self.calls_in_flight = Gauge(
            "releval_provider_calls_in_flight",
            "Provider calls in flight",
            ["provider"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "releval_provider_call_seconds",
            "Provider call latency (one attempt)",
            ["provider", "outcome"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )
        self.rate_limited = Counter(
            "releval_provider_rate_limited", "429 answers received", ["provider"], registry=r
        )
        self.retries = Counter(
            "releval_provider_retries",
            "Provider call retries",
            ["provider", "reason"],
            registry=r,
        )
        self.candidates = Counter(
            "releval_candidates", "Candidates judged or failed", ["outcome"], registry=r
        )
        # Batches written ÷ statements: how many batches a run's writes merge (engine.writes).
        self.batches_written = Counter(
            "releval_batches_written", "Live batches written by judging runs", registry=r
        )
        self.batch_write_statements = Counter(
            "releval_batch_write_statements",
            "Statements that wrote judging runs' batches",
            registry=r,
        )
        # How late the loop-lag monitor's timer fired (engine.lag): what every request and
        # batch in flight waited on top of its own work while the loop was busy.
        self.loop_lag = Histogram(
            "releval_event_loop_lag_seconds",
            "How late a 20-ms timer fired on the event loop that serves the API",
            registry=r,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.dispatch_held = Counter(
            "releval_dispatch_held_seconds",
            "Time judging runs held back new batches while the event loop lagged",
            registry=r,
        )
        # The event streams of runs share one reader per run (services.run_events): its
        # reads grow with the runs watched and time, not with the number of streams.
        self.run_event_reads = Counter(
            "releval_run_events_reads",
            "Database reads of the readers that feed judging runs' event streams",
            registry=r,
        )
        self.run_event_streams = Gauge(
            "releval_run_event_streams", "Open event streams of judging runs", registry=r
        )
        self.tokens = Counter(
            "releval_tokens", "Tokens used by provider calls", ["direction"], registry=r
        )
