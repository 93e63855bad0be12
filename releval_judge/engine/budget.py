"""The cost limit of a judging run (`max_cost`): no call starts that could take the run's
cost past it.

Before each call the run reserves what the call could cost at most: its input (the prompt's
characters / 3, more than any tokenizer yields for prose) and its output cap (the judge's
`max_output_tokens`, or twice the 60 tokens per candidate the estimate assumes when there
is none). When the call is answered the reservation becomes the billed cost. A call whose
reservation does not fit is not made, and the run ends `failed` saying the limit was
reached; the candidates it did not reach stay pending. The error is written once the calls in
flight have ended (`cost_limit_message`), so that it quotes the cost the run then shows and
advises the scope that judges what the run did not reach.
"""

from __future__ import annotations

from dataclasses import dataclass

from releval_judge.models import JudgingRun, Prices
from releval_judge.providers import Completion

CHARS_PER_TOKEN_BOUND = 3
OUTPUT_TOKENS_PER_CANDIDATE = 2 * 60

COST_LIMIT_REACHED = "cost limit reached"
"""The error a run is stopped with when a call does not fit under its max_cost: a
placeholder that the run's end replaces with `cost_limit_message` (calls in flight still
add to the cost after the stop)."""


@dataclass
class CostBudget:
    """What a run may still spend. `spent` starts at the run's cost so far (a resumed run)."""

    limit: float
    prices: Prices
    factor: float
    spent: float = 0.0
    reserved: float = 0.0
    exhausted: bool = False
    """Set when a call did not fit: the run ends failed with `message()`."""

    def bound(self, *, prompt_chars: int, candidates: int, max_output_tokens: int | None) -> float:
        """The most one call with this prompt could cost."""
        output = max_output_tokens or OUTPUT_TOKENS_PER_CANDIDATE * candidates
        return self.prices.cost(
            prompt_chars / CHARS_PER_TOKEN_BOUND, output, factor=self.factor
        ).total

    def reserve(self, amount: float) -> bool:
        """Reserve `amount` if it fits under the limit with everything spent and reserved."""
        if self.spent + self.reserved + amount > self.limit + 1e-12:
            self.exhausted = True
            return False
        self.reserved += amount
        return True

    def spend(self, completion: Completion) -> None:
        """Count what an answered call was billed (its cached input at the cached price)."""
        self.spent += self.prices.cost(
            completion.input_tokens,
            completion.output_tokens,
            cached_input_tokens=completion.cached_input_tokens,
            factor=self.factor,
        ).total

    def settle(self, reserved: float, actual: float) -> None:
        """A reserved call was answered (`actual`: its billed cost; 0 when it failed)."""
        self.reserved = max(self.reserved - reserved, 0.0)
        self.spent += actual


def cost_limit_message(run: JudgingRun, *, rest_judged_elsewhere: int) -> str:
    """The error of a run that reached its max_cost, once its calls in flight have ended:
    the cost is the run's own `cost.total` (what its answer shows), and the advice names
    the scope that judges the candidates it did not reach. `rest_judged_elsewhere` counts
    those that already hold another run's AI judgment: scope `unjudged` skips them.

    - scope `unjudged` or `failed`: the same scope again (what this run judged has left it);
    - scope `all` with no such candidate: `unjudged` (exactly what this run did not reach);
    - scope `all` with some: only `all` judges them; with reuse by fingerprint (the
      default) the candidates this run judged are reused, not sent and paid again.
    """
    spent = run.cost.total if run.cost is not None else 0.0
    head = (
        f"cost limit reached: the run has cost {spent:g} of its max_cost {run.max_cost:g}, "
        "and the next call could cost more than is left"
    )
    advice = "(and a higher max_cost) to judge the rest"
    if run.scope != "all":
        return f"{head}; start a run with scope '{run.scope}' {advice}"
    if rest_judged_elsewhere == 0:
        return f"{head}; start a run with scope 'unjudged' {advice}"
    return (
        f"{head}; {rest_judged_elsewhere} of the candidates it did not reach already have an "
        "earlier run's AI judgment, which scope 'unjudged' skips: start a run with scope "
        "'all' to judge the rest with this judge (with reuse 'fingerprint', the default, "
        "what this run judged is reused, not paid again)"
    )
