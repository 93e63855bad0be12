"""What the demo prints: its steps, the run's progress, the summary and where to look next,
with a little colour on a terminal."""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path
from typing import TextIO

from releval_judge.client.api import ApiClient
from releval_judge.client.progress import ProgressPrinter, format_duration, use_color
from releval_judge.demo.sample import SampleRun
from releval_judge.models import JudgingRun

# The command as it runs from the checkout: `make install` puts it in .venv, not on PATH.
CLI = ".venv/bin/releval-judge"
# Where `make run` serves (RELEVAL_HOST and RELEVAL_PORT unset).
SERVED_URL = "http://127.0.0.1:8080"


class Screen:
    """What the demo prints, with a little colour on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.color = use_color(stream)

    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self.style(text, "1")

    def dim(self, text: str) -> str:
        return self.style(text, "2")

    def say(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def step(self, label: str, text: str) -> None:
        self.say(f"  {self.style('▸', '36')} {label:<13} {text}")

    def heading(self, text: str) -> None:
        self.say()
        self.say(self.bold(text))

    async def follow(self, api: ApiClient, run_id: str) -> JudgingRun:
        """The run's progress on one line until it ends; the run as it ended."""
        self.say()
        printer = ProgressPrinter(self.stream, indent="  ")
        try:
            return await api.watch(run_id, printer.update, min_interval_s=0.2, max_interval_s=1.0)
        finally:
            printer.finish()

    async def summary(
        self, api: ApiClient, run: JudgingRun, sample: SampleRun, *, real: bool
    ) -> None:
        """The run's figures, the AI judge's grades, how they compare with the human
        grades of the sample, the lexical traps, and why candidates failed."""
        screen = self
        elapsed = (
            (run.finished_at - run.started_at).total_seconds()
            if run.finished_at is not None and run.started_at is not None
            else None
        )
        screen.heading("Summary")
        status = run.status if elapsed is None else f"{run.status} in {format_duration(elapsed)}"
        rows = [
            ("status", status),
            ("candidates", f"{run.total:,}"),
            ("judged", f"{run.judged:,}"),
            ("failed", f"{run.failed:,}"),
            ("tokens", f"{run.input_tokens:,} in · {run.output_tokens:,} out"),
        ]
        if elapsed:
            rows.append(("throughput", f"{(run.judged + run.failed) / elapsed:,.1f} candidates/s"))
        if run.error:
            rows.append(("error", run.error))
        for label, value in rows:
            screen.say(f"  {label:<12} {value}")

        scale = sample.body["scale"]
        labels: dict[str, str] = scale["labels"]
        ai: dict[str, int] = {}
        human: dict[str, int] = {}
        keys: dict[str, tuple[str, str]] = {}
        async for judgment in api.judgments(run.evaluation_run_id):
            keys[judgment.candidate_id] = (judgment.query_id, judgment.doc_id)
            if judgment.source == "ai" and judgment.ai_judging_run_id == run.id:
                ai[judgment.candidate_id] = judgment.grade
            elif judgment.source == "human":
                human[judgment.candidate_id] = judgment.grade

        grades = range(scale["min"], scale["max"] + 1)
        if ai:
            screen.heading("Grades given by the AI judge")
            counts = Counter(ai.values())
            widest = max(counts.values())
            for grade in grades:
                bar = "█" * round(30 * counts[grade] / widest) if widest else ""
                label = labels.get(str(grade), "")
                screen.say(f"  {grade} {label:<11} {counts[grade]:>4}  {screen.style(bar, '36')}")

        both = [(human[c], ai[c]) for c in human if c in ai]
        if both:
            exact = sum(h == a for h, a in both) / len(both)
            near = sum(abs(h - a) <= 1 for h, a in both) / len(both)
            screen.heading(f"AI judge vs the human judge ({len(both)} candidates graded by both)")
            screen.say(f"  same grade {exact:.0%} · within one grade {near:.0%}")
            screen.say("  " + screen.dim("rows: human grade, columns: AI grade"))
            matrix = Counter(both)
            screen.say("          " + "".join(f"{'AI ' + str(g):>7}" for g in grades))
            for h in grades:
                cells = "".join(f"{matrix[(h, a)] or '·':>7}" for a in grades)
                screen.say(f"  human {h} {cells}")
        traps = [ai[c] for c, key in keys.items() if key in sample.traps and c in ai]
        if traps:
            fooled = sum(g >= 2 for g in traps)
            screen.say(
                f"  lexical traps (share words with the query, answer something else): "
                f"{fooled} of {len(traps)} graded relevant or better"
            )
            if not real:
                screen.say(
                    "  "
                    + screen.dim(
                        "the simulator grades by word overlap, so it falls for them; a real "
                        "model should not (set OPENAI_API_KEY and run the demo again)"
                    )
                )

        if run.failed:
            reasons = Counter[str]()
            async for failure in api.failures(run.id):
                reasons[failure.reason] += 1
            screen.heading(f"Failed candidates ({run.failed})")
            for reason, count in reasons.most_common(3):
                screen.say(f"  {count:>4} × {reason}")
            if not real:
                screen.say(
                    "  "
                    + screen.dim(
                        "on purpose: the simulator drops a candidate from about one answer "
                        "in ten (and answers 503 to one call in twenty, which is retried)"
                    )
                )

    def next_steps(
        self,
        run: JudgingRun,
        url: str,
        token: str,
        *,
        keep: bool,
        external_database: bool,
        data_dir: Path,
    ) -> None:
        """Where the service is (or how to serve the data again), and what to ask it: every
        command as it runs from the checkout (``.venv/bin/releval-judge``, which is not on
        PATH), with RELEVAL_URL and RELEVAL_TOKEN exported by the line that says how."""
        screen = self
        screen.heading("Where to look next")
        if keep:
            screen.say(
                f"  The service stays up at {url} until Ctrl-C. In another shell, in this folder:"
            )
            screen.say(f"    export RELEVAL_URL={url} RELEVAL_TOKEN={token}")
        elif external_database:
            screen.say(
                "  The service has stopped; the data is in your database: `make run` serves it"
            )
            screen.say("  again (RELEVAL_DATABASE_URL set) and prints its token. In another shell:")
            screen.say(f"    export RELEVAL_URL={SERVED_URL} RELEVAL_TOKEN=<the token it printed>")
        else:
            folder = shlex.quote(str(data_dir))
            token_file = shlex.quote(str(data_dir / "dev-token"))
            screen.say(f"  The service has stopped; the data stays in {data_dir}. Serve it again:")
            screen.say(f"    RELEVAL_DATA_DIR={folder} make run")
            screen.say(
                f"  and in another shell, in this folder (its token is kept in {token_file}):"
            )
            screen.say(f"    export RELEVAL_URL={SERVED_URL} RELEVAL_TOKEN=$(cat {token_file})")
        auth = '-H "Authorization: Bearer $RELEVAL_TOKEN"'
        api = '"$RELEVAL_URL/api/v1'
        evaluation = run.evaluation_run_id
        screen.say()
        screen.say("  The judging run, its failures, and the judgments (AI and human):")
        screen.say(f'    curl {auth} {api}/ai-judging-runs/{run.id}"')
        screen.say(f'    curl {auth} {api}/ai-judging-runs/{run.id}/failures"')
        screen.say(
            f"    curl {auth} {api}/evaluations/runs/{evaluation}/judgments"
            '?source=ai&sort=-grade,rank&limit=5"'
        )
        screen.say("  From the command line:")
        screen.say(f"    {CLI} runs list {evaluation}")
        screen.say(f"    {CLI} metrics {evaluation} --measures ndcg@10,p@5,ap")
        if keep:
            # The judge's provider (the demo's simulator) is up only while the demo runs.
            screen.say(
                f"    {CLI} runs start {evaluation} --judge {run.ai_judge_id or 'JUDGE_ID'} --watch"
            )
        else:
            screen.say(
                "  To judge again with the demo's judge, keep its simulator up:  "
                "make demo ARGS=--keep"
            )
        screen.say(f"  Your own data:  {CLI} import --run RUN.trec --queries QUERIES.tsv")
        screen.say(f"  The API:        {url if keep else SERVED_URL}/openapi.json · README.md")
