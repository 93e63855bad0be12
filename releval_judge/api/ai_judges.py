"""AI judges: create, list, get, patch, delete. API keys go in encrypted and never come out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from releval_judge.errors import ValidationFailed
from releval_judge.models import AiJudgeCreate, AiJudgePatch, JudgeConfig
from releval_judge.params import PageParams
from releval_judge.prompt import TemplateError, TemplateLimitError
from releval_judge.providers.batches import batch_delivery_problem
from releval_judge.providers.outbound import check_base_url
from releval_judge.services import Services
from releval_judge.web.auth import actor, services
from releval_judge.web.body import read_model, read_query
from releval_judge.web.responses import model_response


async def _check_template(svc: Services, template: str | None) -> None:
    if template is None:
        return
    try:
        await svc.templates.judge_prompt(template)  # off the event loop, time-limited
    except TemplateError as exc:
        problem = "is over a limit" if isinstance(exc, TemplateLimitError) else "does not compile"
        raise ValidationFailed(
            f"prompt_template {problem}: {exc}",
            details=[{"loc": ["body", "prompt_template"], "msg": exc.message, "line": exc.line}],
        ) from exc


def _check_key_source(svc: Services, api_key_set: bool, api_key_env: str | None) -> None:
    if api_key_set and api_key_env:
        raise ValidationFailed(
            "give either api_key or api_key_env, not both",
            details=[{"loc": ["body", "api_key_env"]}],
        )
    problem = svc.secrets.env_name_problem(api_key_env) if api_key_env else None
    if problem is not None:
        raise ValidationFailed(
            problem, details=[{"loc": ["body", "api_key_env"], "input": api_key_env}]
        )


def _check_provider_fields(config: JudgeConfig) -> None:
    """Combinations of fields that no provider call could satisfy (422 naming the field)."""
    if config.reasoning_effort is not None and config.provider != "openai":
        raise ValidationFailed(
            "reasoning_effort is an OpenAI parameter (reasoning models of OpenAI-compatible "
            "providers); leave it null for an anthropic judge",
            details=[{"loc": ["body", "reasoning_effort"], "input": config.reasoning_effort}],
        )
    if config.delivery == "batch":
        problem = batch_delivery_problem(config.provider, config.base_url)
        if problem is not None:
            raise ValidationFailed(
                problem, details=[{"loc": ["body", "delivery"], "input": config.delivery}]
            )


async def _config(svc: Services, body: AiJudgeCreate) -> JudgeConfig:
    _check_key_source(svc, body.api_key is not None, body.api_key_env)
    await _check_template(svc, body.prompt_template)
    data = body.model_dump(exclude={"api_key"})
    data["api_key_encrypted"] = svc.secrets.encrypt(body.api_key) if body.api_key else None
    config = JudgeConfig.model_validate(data)
    _check_provider_fields(config)
    return config


def _moves(current: JudgeConfig, merged: JudgeConfig) -> bool:
    """True when a change sends the judge's calls somewhere else (base_url or provider)."""
    return (current.base_url, current.provider) != (merged.base_url, merged.provider)


async def create_judge(request: Request) -> Response:
    svc = services(request)
    body = await read_model(request, AiJudgeCreate, svc.settings.max_body_bytes)
    config = await _config(svc, body)
    await check_base_url(body.base_url, svc.settings.outbound_policy)
    judge = await svc.store.create_judge(config, by=actor(request))
    return model_response(judge, 201)


async def list_judges(request: Request) -> Response:
    params = read_query(request, PageParams)
    page = await services(request).store.list_judges(limit=params.limit, cursor=params.cursor)
    return model_response(page)


async def get_judge(request: Request) -> Response:
    judge = await services(request).store.get_judge(request.path_params["judge_id"])
    return model_response(judge)


async def patch_judge(request: Request) -> Response:
    """Fields present in the body replace the stored ones (``null`` clears nullable ones).

    Judging runs already created keep the configuration they started with.
    """
    svc = services(request)
    judge_id = request.path_params["judge_id"]
    patch = await read_model(request, AiJudgePatch, svc.settings.max_body_bytes)
    current = await svc.store.get_judge_config(judge_id)
    changes = patch.model_dump(include=patch.model_fields_set)
    required = {
        "name",
        "provider",
        "model",
        "batch_size",
        "concurrency",
        "request_timeout_s",
        "max_retries",
        "delivery",
        "batch_price_factor",
    }
    nulled = sorted(k for k in required if k in changes and changes[k] is None)
    if nulled:
        raise ValidationFailed(
            f"{', '.join(nulled)} cannot be null",
            details=[{"loc": ["body", k], "msg": "cannot be null"} for k in nulled],
        )
    merged = current.model_copy(update={k: v for k, v in changes.items() if k != "api_key"})
    if "api_key" in changes:
        key = changes["api_key"]
        merged = merged.model_copy(
            update={"api_key_encrypted": svc.secrets.encrypt(key) if key else None}
        )
        if key and "api_key_env" not in changes:
            merged = merged.model_copy(update={"api_key_env": None})
    elif changes.get("api_key_env"):
        merged = merged.model_copy(update={"api_key_encrypted": None})
    if _moves(current, merged) and not (changes.get("api_key") or changes.get("api_key_env")):
        # The key was given for the old destination: it must not follow the judge to
        # another one (docs/security.md, "Provider keys").
        merged = merged.model_copy(update={"api_key_encrypted": None, "api_key_env": None})
    _check_key_source(svc, merged.api_key_encrypted is not None, merged.api_key_env)
    if "prompt_template" in changes:
        await _check_template(svc, merged.prompt_template)
    _check_provider_fields(merged)
    await check_base_url(changes.get("base_url"), svc.settings.outbound_policy)
    judge = await svc.store.update_judge(judge_id, merged, by=actor(request))
    return model_response(judge)


async def delete_judge(request: Request) -> Response:
    await services(request).store.delete_judge(request.path_params["judge_id"])
    return Response(status_code=204)
