"""Who is calling and what they may do: a token's principal and its scopes.

``read`` may read everything; ``write`` may also change everything (evaluation runs,
judges, panels, human grades, starting and cancelling runs); ``admin`` may also manage
tokens. Each scope includes the ones before it. See docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
STATIC_NAME = "static"


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


STATIC_PRINCIPAL = Principal(name=STATIC_NAME, scopes=frozenset({"admin"}))
