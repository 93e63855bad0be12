"""The token API (admin only): create, list and revoke stored API tokens.

A token is shown once, in the answer that creates it; only its SHA-256 is stored. A
revoked token is refused by this replica at once and by every other one within
``services.auth.RECHECK_S`` (see docs/security.md, "Scopes and tokens").
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response

from releval_judge.access import CreatedToken, TokenCreate
from releval_judge.params import PageParams
from releval_judge.secrets import hash_token, new_token
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response

log = structlog.get_logger(__name__)


async def create_token(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, TokenCreate, svc.settings.max_body_bytes)
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
        by=actor(request),
    )
    created = CreatedToken(
        id=stored.id,
        name=stored.name,
        scopes=stored.scopes,
        token=token,
        created_at=stored.created_at,
        expires_at=stored.expires_at,
    )
    return model_response(created, 201)


async def list_tokens(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await services(request).store.tokens.list(limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def revoke_token(request: Request) -> Response:
    """204 whether or not it was revoked before (the first revocation's time stays)."""
    svc = services(request)
    token_id = await svc.store.tokens.revoke(request.path_params["token_id"])
    svc.checker.forget(token_id)
    log.info("api_token_revoked", token_id=token_id, by=actor(request))
    return Response(status_code=204)
