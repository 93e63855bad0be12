"""What tokens cost: prices per million tokens, a judge's price fields, and costs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from releval_judge.models.base import Delivery

# Price per million tokens, in whatever currency the user works in (costs come out in it).
Price = Annotated[float, Field(ge=0, le=1_000_000)]
# Multiplies every price of a judging run delivered through the provider's batch API.
BatchPriceFactor = Annotated[float, Field(gt=0, le=1)]
BATCH_PRICE_FACTOR = 0.5
"""A judge's ``batch_price_factor`` unless set: the discount OpenAI and Anthropic give."""
# A run's spending cap, in the judge's prices' currency.
MaxCost = Annotated[float, Field(gt=0, le=1_000_000_000)]


class Prices(BaseModel):
    """A judge's prices per million tokens, in whatever currency the user works in."""

    model_config = ConfigDict(frozen=True)

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    """Cached input tokens (a prompt-cache hit); None: priced as any input token."""

    def cost(
        self,
        input_tokens: float,
        output_tokens: float,
        *,
        cached_input_tokens: float = 0,
        factor: float = 1.0,
    ) -> Cost:
        """``input_tokens`` counts every input token, cached ones included; ``factor``
        multiplies every price (the batch discount)."""
        cached = min(cached_input_tokens, input_tokens)
        cached_price = (
            self.cached_input_per_mtok
            if self.cached_input_per_mtok is not None
            else self.input_per_mtok
        )
        cost_in = (input_tokens - cached) * self.input_per_mtok * factor / 1_000_000
        cost_cached = cached * cached_price * factor / 1_000_000
        cost_out = output_tokens * self.output_per_mtok * factor / 1_000_000
        return Cost(
            input=round(cost_in, 6),
            cached_input=round(cost_cached, 6),
            output=round(cost_out, 6),
            total=round(cost_in + cost_cached + cost_out, 6),
        )


class JudgePrices(BaseModel):
    """The price fields of a judge (part of :class:`~releval_judge.models.judges.JudgeSettings`).

    Also read alone from a judging run's judge snapshot, where any field may be missing
    (snapshots taken before it existed): each reads as its default then.
    """

    input_price_per_mtok: Price | None = None
    output_price_per_mtok: Price | None = None
    cached_input_price_per_mtok: Price | None = None
    batch_price_factor: BatchPriceFactor = BATCH_PRICE_FACTOR

    @property
    def prices(self) -> Prices | None:
        """The judge's prices, None unless both the input and the output price are set
        (a free model sets both to 0)."""
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            return None
        return Prices(
            input_per_mtok=self.input_price_per_mtok,
            cached_input_per_mtok=self.cached_input_price_per_mtok,
            output_per_mtok=self.output_price_per_mtok,
        )

    def delivery_factor(self, delivery: Delivery) -> float:
        """What every price is multiplied by for ``delivery``."""
        return self.batch_price_factor if delivery == "batch" else 1.0

    def cost(
        self,
        delivery: Delivery,
        *,
        input_tokens: float,
        output_tokens: float,
        cached_input_tokens: float = 0,
    ) -> Cost | None:
        """Tokens at these prices for ``delivery``, batch discount and cached input
        included; None without prices."""
        prices = self.prices
        if prices is None:
            return None
        return prices.cost(
            input_tokens,
            output_tokens,
            cached_input_tokens=cached_input_tokens,
            factor=self.delivery_factor(delivery),
        )


class Cost(BaseModel):
    """Tokens priced at the judge's ``*_price_per_mtok``, in the prices' currency.

    ``input`` is the uncached input, ``cached_input`` the input read from the provider's
    prompt cache; a batch run's prices are multiplied by the judge's ``batch_price_factor``.
    """

    input: float
    output: float
    total: float
    cached_input: float = 0.0

    @classmethod
    def of(
        cls,
        input_tokens: float,
        output_tokens: float,
        input_price_per_mtok: float | None,
        output_price_per_mtok: float | None,
    ) -> Cost | None:
        """None unless both prices are set (a free model sets both to 0)."""
        prices = JudgePrices(
            input_price_per_mtok=input_price_per_mtok, output_price_per_mtok=output_price_per_mtok
        )
        return prices.cost("live", input_tokens=input_tokens, output_tokens=output_tokens)


class DeliveryCosts(BaseModel):
    """One run's cost four ways: each delivery, without and with prompt caching."""

    live: Cost
    live_cached: Cost
    batch: Cost
    batch_cached: Cost
