"""AI judges: create, list, get, patch, delete, and the preview of a prompt template.

API keys go in encrypted and never come out. A judge's destination (``base_url``) is
checked against the outbound policy when it is set; its template is compiled in the
request renderer (off the event loop, time-limited) before it is stored.
"""

from __future__ import annotations

from releval_judge.errors import ValidationFailed
from releval_judge.models import AiJudge, AiJudgeCreate, AiJudgePatch, JudgeConfig, Page
from releval_judge.prompt import (
    DEFAULT_TEMPLATE,
    PromptCandidate,
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
    compile_template,
    render_prompt,
)
from releval_judge.providers.batches import batch_delivery_problem
from releval_judge.providers.outbound import check_base_url
from releval_judge.scale import Scale
from releval_judge.services import Services

# Fields a patch may not set to null: a judge cannot work without them.
REQUIRED = frozenset(
    {
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
)

# The sample batch a template preview renders.
PREVIEW_QUERY = "wireless headphones"
PREVIEW_CANDIDATES = (
    PromptCandidate(
        id="1",
        rank=1,
        doc_id="doc-1",
        title="Acme AH-1 wireless headphones",
        text="Over-ear Bluetooth headphones with 30 hours of battery.",
        fields={"brand": "Acme", "category": "audio"},
    ),
    PromptCandidate(
        id="2", rank=2, doc_id="doc-2", title="USB-C cable", text="Charging cable, 1 m."
    ),
)
PREVIEW_SCALE = Scale(min=0, max=3, labels={0: "irrelevant", 1: "related", 3: "perfect"})


async def create_judge(svc: Services, body: AiJudgeCreate, *, by: str) -> AiJudge:
    """Store a new judge (422 naming the field for a key, template or delivery that cannot
    work; 422 ``outbound_refused`` for a base_url the policy refuses)."""
    config = await _config(svc, body)
    await check_base_url(body.base_url, svc.settings.outbound_policy)
    return await svc.store.create_judge(config, by=by)


async def list_judges(svc: Services, *, limit: int, cursor: str | None) -> Page[AiJudge]:
    return await svc.store.list_judges(limit=limit, cursor=cursor)


async def get_judge(svc: Services, judge_id: str) -> AiJudge:
    return await svc.store.get_judge(judge_id)


async def patch_judge(svc: Services, judge_id: str, patch: AiJudgePatch, *, by: str) -> AiJudge:
    """Fields present in the patch replace the stored ones (``null`` clears nullable ones).

    Judging runs already created keep the configuration they started with. A key does not
    follow the judge to another destination unless the patch gives one.
    """
    current = await svc.store.get_judge_config(judge_id)
    changes = patch.model_dump(include=patch.model_fields_set)
    nulled = sorted(k for k in REQUIRED if k in changes and changes[k] is None)
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
    return await svc.store.update_judge(judge_id, merged, by=by)


async def delete_judge(svc: Services, judge_id: str) -> None:
    await svc.store.delete_judge(judge_id)


async def preview_template(svc: Services, source: str | None) -> str:
    """The prompt ``source`` (the default template when None) renders for a sample batch;
    :class:`TemplateError` saying where it fails. Writes nothing."""
    templates = svc.templates
    # Off the event loop and within the limits of every render (time, size).
    prompt: str = await templates.run(
        _render_preview, source or DEFAULT_TEMPLATE, templates.limits, what="render a preview"
    )
    return prompt


def _render_preview(source: str, limits: TemplateLimits) -> str:
    template = compile_template(source, limits)
    return render_prompt(
        template,
        query=PREVIEW_QUERY,
        candidates=PREVIEW_CANDIDATES,
        scale=PREVIEW_SCALE,
        limits=limits,
    )


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
