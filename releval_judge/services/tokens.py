"""Stored API tokens (admin only): create, list, revoke.

A token is shown once, in what creates it; only its SHA-256 is stored. A revoked token is
refused by this replica at once and by every other one within ``services.auth.RECHECK_S``
(see docs/security.md, "Scopes and tokens").
"""

from __future__ import annotations

import structlog

from releval_judge.access import ApiToken, CreatedToken, TokenCreate
from releval_judge.models import Page
from releval_judge.secrets import hash_token, new_token
from releval_judge.services import Services

log = structlog.get_logger(__name__)


async def create_token(svc: Services, body: TokenCreate, *, by: str) -> CreatedToken:
    token = new_token()
    stored = await svc.store.tokens.create(
        body.name, hash_token(token), body.scopes, body.expires_at
    )
    log.info(
        "api_token_created",
        token_id=stored.id,
        token_name=stored.name,
        scopes=stored.scopes,
        expires_at=stored.expires_at,
        by=by,
    )
    return CreatedToken(
        id=stored.id,
        name=stored.name,
        scopes=stored.scopes,
        token=token,
        created_at=stored.created_at,
        expires_at=stored.expires_at,
    )


async def list_tokens(svc: Services, *, limit: int, cursor: str | None) -> Page[ApiToken]:
    return await svc.store.tokens.list(limit=limit, cursor=cursor)


async def revoke_token(svc: Services, token_id: str, *, by: str) -> None:
    """Revoke whether or not it was revoked before (the first revocation's time stays)."""
    revoked = await svc.store.tokens.revoke(token_id)
    svc.checker.forget(revoked)
    log.info("api_token_revoked", token_id=revoked, by=by)
