"""Who is calling and what they may do: a token's principal and its scopes, and the
bodies of the token API.

``read`` may read everything; ``write`` may also change everything (evaluation runs,
judges, panels, human grades, starting and cancelling runs); ``admin`` may also manage
tokens. Each scope includes the ones before it. See docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from releval_judge.models import Name, Strict

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
STATIC_NAME = "static"
#: Names the service itself records as who did what: the static tokens, and the demo's
#: sample human grades. A token of the API may not take one, so that a record never leaves
#: in doubt which did it.
RESERVED_NAMES = frozenset({STATIC_NAME, "demo"})


def ordered(scopes: frozenset[Scope] | list[Scope]) -> list[Scope]:
    """Scopes without repeats, from the least to the most privileged."""
    return sorted(set(scopes), key=SCOPES.index)


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a valid token: its name (recorded as who did what) and its scopes.
    ``token_id`` is None for the static tokens of ``RELEVAL_API_TOKENS``."""

    name: str
    scopes: frozenset[Scope]
    token_id: str | None = None

    def allows(self, scope: Scope) -> bool:
        """True when one of the principal's scopes includes ``scope``."""
        needed = SCOPES.index(scope)
        return any(SCOPES.index(held) >= needed for held in self.scopes)

    @property
    def highest_scope(self) -> Scope:
        return max(self.scopes, key=SCOPES.index)

    @property
    def scope_names(self) -> list[Scope]:
        return ordered(self.scopes)


STATIC_PRINCIPAL = Principal(name=STATIC_NAME, scopes=frozenset({"admin"}))


# --- the token API (POST/GET /api/v1/tokens, DELETE /api/v1/tokens/{id}) ---------------


class TokenCreate(Strict):
    """``POST /api/v1/tokens``: a name (recorded as who did what), one or more scopes, and
    optionally when the token stops working."""

    name: Name
    scopes: list[Scope] = Field(min_length=1)
    expires_at: AwareDatetime | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.strip().lower() in RESERVED_NAMES:
            raise ValueError(
                f"{name!r} is reserved: the service records {' and '.join(sorted(RESERVED_NAMES))} "
                "as who did what for its own static tokens and demo data; choose another name"
            )
        return name

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        return ordered(scopes)

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)
        except OverflowError as exc:  # year 9999 with a negative offset, say
            raise ValueError("expires_at is out of range") from exc
        if utc <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return utc


class ApiToken(BaseModel):
    """A stored token as ``GET /api/v1/tokens`` lists it: never the token or its hash."""

    id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(BaseModel):
    """The answer to ``POST /api/v1/tokens``: the only time the token itself is shown."""

    id: str
    name: str
    scopes: list[Scope]
    token: str
    created_at: datetime
    expires_at: datetime | None
