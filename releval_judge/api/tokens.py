"""The token API (admin only): create, list and revoke stored API tokens
(``services.tokens``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.access import TokenCreate
from releval_judge.params import PageParams
from releval_judge.services import tokens
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response


async def create_token(request: Request) -> Response:
    """The new token, shown this once (only its SHA-256 is stored)."""
    svc = services(request)
    body = await read_model(request, TokenCreate, svc.settings.max_body_bytes)
    created = await tokens.create_token(svc, body, by=actor(request))
    return model_response(created, 201)


async def list_tokens(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await tokens.list_tokens(services(request), limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def revoke_token(request: Request) -> Response:
    """204 whether or not it was revoked before (the first revocation's time stays)."""
    await tokens.revoke_token(services(request), request.path_params["token_id"], by=actor(request))
    return Response(status_code=204)
