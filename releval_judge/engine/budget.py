"""The cost limit of a judging run (`max_cost`): no call starts that could take the run's
cost past it.

Before each call the run reserves what the call could cost at most: its input (the prompt's
characters / 3, more than any tokenizer yields for prose) and its output cap (the judge's
`max_output_tokens`, or twice the 60 tokens per candidate the estimate assumes when there
is none). When the call is answered the reservation becomes the billed cost. A call whose
reservation does not fit is not made, and the run ends `failed` saying the limit was
reached; its unjudged candidates stay pending, so a run with scope `unjudged` continues it.
"""

from __future__ import annotations

from dataclasses import dataclass

from releval_judge.models import Prices
from releval_judge.providers import Completion

CHARS_PER_TOKEN_BOUND = 3
OUTPUT_TOKENS_PER_CANDIDATE = 2 * 60


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

    def message(self) -> str:
        return (
            f"cost limit reached: the run has cost {self.spent:.6g} of its max_cost "
            f"{self.limit:g}, and the next call could cost more than is left; start a run "
            "with scope 'unjudged' (and a higher max_cost) to judge the rest"
        )
