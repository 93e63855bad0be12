"""What every model of the API is made of: ids, statuses, bounded strings, the request
base (:class:`Strict`), the page of a list, and the patch derived from a create model."""

from __future__ import annotations

import math
import types
from typing import Annotated, Any, Generic, Literal, NewType, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
)

EvaluationRunId = NewType("EvaluationRunId", str)
AiJudgeId = NewType("AiJudgeId", str)
JudgingRunId = NewType("JudgingRunId", str)
CandidateId = NewType("CandidateId", str)

EvaluationRunStatus = Literal["pending", "queued", "running", "completed", "failed"]
JudgingRunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
ACTIVE_JUDGING_STATUSES: tuple[JudgingRunStatus, ...] = ("queued", "running")
JudgmentSource = Literal["ai", "human"]
Delivery = Literal["live", "batch"]
"""``live``: one HTTP call per batch of candidates; ``batch``: the provider's batch API."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Seed = Annotated[int, Field(ge=0, le=2**53)]

# Stored in PostgreSQL ``integer`` columns.
INT32_MAX = 2_147_483_647
# A grade as written or asked for (a scale's own bounds are checked against the run).
Grade = Annotated[int, Field(ge=-INT32_MAX, le=INT32_MAX)]

T = TypeVar("T")


def check_storable(value: Any) -> None:
    """Refuse what PostgreSQL cannot store: NUL in text, NaN or Infinity in JSON numbers.

    Checked on input so that such a value is a 422 naming the field, not a database
    error (a 500) halfway through a write.
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text cannot contain the NUL character (\\u0000)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_storable(item)
    elif isinstance(value, BaseModel):
        for _, item in value:
            check_storable(item)


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped; every value
    must be storable (see :func:`check_storable`)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic's lax mode reads true as 1 for a number; JSON says a boolean is not one.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _is_number(field.annotation):
            raise ValueError("a boolean is not a number")
        return value

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        check_storable(value)
        return value


def _is_number(annotation: Any) -> bool:
    """Whether a field's type is a number (int or float, constrained or optional), the only
    fields where a boolean must be refused by hand."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_number(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [arg for arg in get_args(annotation) if arg is not type(None)]
        return bool(kinds) and all(_is_number(arg) for arg in kinds)
    return annotation in (int, float)


def all_optional(model: type[Strict]) -> type[Strict]:
    """A request model with ``model``'s fields, each optional and ``None`` by default, with
    the same bounds: the body of a PATCH, where an absent field is left as it is.

    Subclass the result to name it (the OpenAPI document names a schema after its class).
    ``null`` passes the model; which fields may not be cleared is the caller's to say.
    """
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        bounded: Any = info.annotation
        if info.metadata:
            bounded = Annotated[(bounded, *info.metadata)]
        fields[name] = (bounded | None, None)
    return create_model(f"{model.__name__}Optional", __base__=Strict, **fields)


def not_nullable(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that ``None`` is not a value of (in a patch: cannot be cleared)."""
    return frozenset(
        name for name, info in model.model_fields.items() if not _admits_none(info.annotation)
    )


def _admits_none(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _admits_none(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_admits_none(arg) for arg in get_args(annotation))
    return annotation is None or annotation is type(None)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
