"""Provider requests over HTTP: one JSON request, its answer read within the byte cap
(`reading`), classified (`errors`), decoded; a body read as the model it should be."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from releval_judge.providers.config import ProviderConfig
from releval_judge.providers.errors import (
    ProviderError,
    TransientProviderError,
    classify_response,
    excerpt,
    is_error_object,
    redirected,
    scrub,
    too_large,
    unexpected_body,
)
from releval_judge.providers.reading import read_capped

M = TypeVar("M", bound=BaseModel)


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    payload: Mapping[str, object],
    headers: Mapping[str, str],
    config: ProviderConfig,
) -> object:
    """POST `payload` as JSON and return the decoded body of a successful answer.

    Raises the error `classify_response` assigns to a non-2xx answer or a 2xx error
    object, and `TransientProviderError` for a timeout, a connection error, or a body
    that is not JSON. Never catches `asyncio.CancelledError`.
    """
    return await request_json(session, "POST", url, payload=payload, headers=headers, config=config)


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    config: ProviderConfig,
    payload: Mapping[str, object] | None = None,
    data: object = None,
    subject: str | None = None,
) -> object:
    """Send a request and return the decoded JSON body of a successful answer; errors as
    `post_json`. `payload` goes as JSON, `data` as any body aiohttp sends (a form, a file);
    `subject` names what a 404 did not find (default: the model)."""
    api_key = config.api_key_value
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)
    limit = config.max_answer_bytes
    try:
        async with session.request(
            method,
            url,
            json=payload,
            data=data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            status = response.status
            response_headers = response.headers
            if 300 <= status < 400:
                raise redirected(status, response_headers, api_key=api_key)
            # An error's body is only quoted: its start is enough.
            ok = 200 <= status < 300
            body = await read_capped(response, limit, truncate=not ok)
            if body is None:
                raise too_large(limit)
    except TimeoutError as exc:
        raise TransientProviderError(f"timed out after {config.request_timeout_s:g}s") from exc
    except aiohttp.ClientConnectorError as exc:
        raise TransientProviderError(scrub(_could_not_connect(exc), api_key)) from exc
    except aiohttp.ClientError as exc:
        reason = str(exc) or type(exc).__name__
        raise TransientProviderError(scrub(f"connection error: {reason}", api_key)) from exc

    model = None if subject is not None else config.model

    def classified() -> ProviderError:
        return classify_response(
            status,
            body,
            response_headers,
            model=model,
            api_key=api_key,
            subject=subject,
            url=url,
            provider=config.provider,
        )

    if not 200 <= status < 300:
        raise classified()
    try:
        decoded: object = json.loads(body)
    except ValueError as exc:  # also UnicodeDecodeError
        text = body.decode("utf-8", errors="replace")
        raise TransientProviderError(
            scrub(f"malformed response body (HTTP {status}): {excerpt(text)}", api_key),
            status=status,
        ) from exc
    if is_error_object(decoded):
        raise classified()
    return decoded


def _could_not_connect(exc: aiohttp.ClientConnectorError) -> str:
    """A connection that was never made: nothing listens at the base_url's host and port,
    or its name does not resolve (most often the base_url), or TLS failed."""
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return (
            f"could not connect to {where} over TLS ({exc}): check base_url (http or https) "
            "and the provider's certificate"
        )
    reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
    return (
        f"could not connect to {where}: check base_url and that the provider is running ({reason})"
    )


def parse_body(model: type[M], data: object) -> M:
    """A 2xx JSON body read as `model`; a body of another shape is `unexpected_body`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unexpected_body(exc) from exc
