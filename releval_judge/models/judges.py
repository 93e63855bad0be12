"""AI judges: each setting defined once, in :class:`JudgeSettings`; the bodies of create
and patch, the stored configuration and the answer are made from it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from releval_judge.models.base import (
    INT32_MAX,
    AiJudgeId,
    Delivery,
    Name,
    Strict,
    all_optional,
    not_nullable,
)
from releval_judge.models.costs import JudgePrices

ProviderName = Literal["openai", "anthropic"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]
_HTTP_URL = r"^https?://\S+$"


def _http_url(value: str) -> str:
    """A base_url must be an http(s) URL without white space; the error says so in words
    (pydantic's own names the regex), and guesses the URL meant when the scheme is missing."""
    # fullmatch: `$` alone would let a trailing newline through.
    if re.fullmatch(_HTTP_URL[1:-1], value):
        return value
    message = "base_url must be an http(s) URL such as https://api.openai.com/v1"
    if "://" not in value and value.strip() and not any(c.isspace() for c in value.strip()):
        message += f" (did you mean http://{value.strip()}?)"
    elif any(c.isspace() for c in value):
        message += " (it contains white space)"
    raise PydanticCustomError("url_scheme", message)


BaseUrl = Annotated[
    str,
    StringConstraints(max_length=2000),
    AfterValidator(_http_url),
    # The schema keeps the rule as a pattern for clients that check before they send.
    WithJsonSchema({"type": "string", "pattern": _HTTP_URL, "maxLength": 2000}),
]
# Names of candidate fields that reach the prompt (see releval_judge/documents.py).
FieldNames = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(max_length=200),
]


class JudgeSettings(JudgePrices):
    """A judge's settings but its key, with the contract's bounds and defaults: the one
    definition of each (``ai_judges`` has a column for each, see store/judges.py).

    A bound tightened later must still admit the values stored before it: stored judges
    and judging runs' snapshots are read through these fields.
    """

    name: Name
    provider: ProviderName
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    base_url: BaseUrl | None = None
    api_key_env: EnvName | None = None
    prompt_template: Annotated[str, StringConstraints(min_length=1, max_length=200_000)] | None = (
        None
    )
    batch_size: int = Field(10, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=1024)
    # null: not sent at all (reasoning models refuse any value but their default).
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    request_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_retries: int = Field(5, ge=0, le=100)
    requests_per_minute: int | None = Field(None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=INT32_MAX)
    # Calls in flight on the provider key at once, over every run and replica (null: none).
    key_concurrency: int | None = Field(None, ge=1, le=1024)
    max_document_chars: int | None = Field(None, ge=1, le=10_000_000)
    fields: FieldNames | None = None
    # Snapshots taken before these fields existed read as the behaviour of their time.
    delivery: Delivery = "live"
    reasoning_effort: ReasoningEffort | None = None

    def delivery_factor(self, delivery: Delivery | None = None) -> float:
        """What every price is multiplied by for ``delivery`` (default: the judge's own)."""
        return super().delivery_factor(delivery or self.delivery)


class AiJudgeCreate(JudgeSettings, Strict):
    """``POST /ai-judges``: the settings and the key, sent once and stored encrypted."""

    api_key: Annotated[str, StringConstraints(min_length=1, max_length=10_000)] | None = None


class AiJudgePatch(all_optional(AiJudgeCreate)):  # type: ignore[misc]  # fields made, not written
    """Every field optional; ``null`` clears the nullable ones."""

    NOT_NULL: ClassVar[frozenset[str]] = not_nullable(AiJudgeCreate)
    """The fields ``null`` cannot clear (a judge cannot work without them)."""


class JudgeConfig(JudgeSettings):
    """A judge as stored and as snapshotted into each judging run (key still encrypted)."""

    api_key_encrypted: str | None = None


class AiJudge(JudgeSettings):
    """A judge as the API answers it: its key never, only whether it has one."""

    # Every answer carries every field, defaults included.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: AiJudgeId
    api_key_set: bool
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    """The name of the token that created the judge (null: created before this was kept)."""
    updated_by: str | None = None
    """The name of the token that created or last changed the judge."""
