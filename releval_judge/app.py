"""create_app(settings): routes, middleware and the lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from releval_judge.api.openapi import build_openapi, openapi
from releval_judge.api.routes import ROUTES, endpoint
from releval_judge.config import Settings
from releval_judge.engine.audits import AuditRunner
from releval_judge.engine.judging import ProviderFactory
from releval_judge.engine.panel_runs import PanelRunner
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.engine.runner import Runner
from releval_judge.prompt import TemplateLimits
from releval_judge.providers import make_provider
from releval_judge.providers.outbound import OutboundConnector
from releval_judge.secrets import (
    SecretBox,
    SecretKeyMismatch,
    local_secret_key,
    new_token,
    verify_secret_key,
)
from releval_judge.services import Services
from releval_judge.services.auth import TokenChecker
from releval_judge.services.run_events import RunEvents
from releval_judge.store.audits import AuditStore
from releval_judge.store.database import (
    EmbeddedPostgres,
    apply_schema,
    create_pool,
    wait_for_database,
)
from releval_judge.store.store import Store
from releval_judge.telemetry import Metrics
from releval_judge.web.errors import EXCEPTION_HANDLERS
from releval_judge.web.idle import ClientIdleMiddleware
from releval_judge.web.middleware import BearerAuthMiddleware, RequestIdMiddleware

log = structlog.get_logger(__name__)

WORKER_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def dev_token_file(data_dir: Path) -> Path:
    """Where the development token is kept: in ``RELEVAL_DATA_DIR`` (``.releval`` unless
    set), so that a service serving another data folder (``RELEVAL_DATA_DIR=.releval/demo``)
    has its own; the start-up message and the login page name this path."""
    return data_dir / "dev-token"


def development_token(data_dir: Path) -> str:
    """The token kept in ``dev_token_file(data_dir)`` for when RELEVAL_API_TOKENS is not
    set; made (readable by its owner only) the first time."""
    path = dev_token_file(data_dir)
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = new_token()
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def create_app(
    settings: Settings,
    *,
    provider_factory: ProviderFactory = make_provider,
    announce_dev_token: bool = False,
) -> Starlette:
    """The ASGI app. Nothing is started until the lifespan runs."""
    static_tokens = settings.static_tokens
    token_file: Path | None = None
    if not static_tokens:
        token = development_token(settings.data_dir)
        token_file = dev_token_file(settings.data_dir)
        static_tokens = [token]
        if announce_dev_token:
            print(
                f"\n  releval-judge development token (RELEVAL_API_TOKENS is not set), "
                f"kept in {token_file}:\n"
                f"    export TOKEN={token}\n",
                file=sys.stderr,
                flush=True,
            )
    checker = TokenChecker(static_tokens)
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await asyncio.to_thread(embedded.start)
        await wait_for_database(url)
        # Two pools: judging runs at high concurrency queue for connections, and a status
        # poll or any other API call must not wait behind them.
        pool = await create_pool(url, size=settings.db_api_pool_size)
        engine_pool = await create_pool(url, size=settings.db_pool_size)
        # Provider calls connect only where the outbound policy allows (checked on the
        # address connected: providers/outbound.py); no proxy from the environment.
        session = aiohttp.ClientSession(
            connector=OutboundConnector(
                settings.outbound_policy, limit=0, limit_per_host=0, ttl_dns_cache=300
            ),
            trust_env=False,
        )
        runner: Runner | None = None
        panels: PanelRunner | None = None
        audits: AuditRunner | None = None
        run_events: RunEvents | None = None
        # Judges' templates run in threads of their own, within these limits: one renderer
        # for judging runs, one for requests, so that neither waits behind the other's
        # renders. One thread for runs: renders hold the GIL, a second thread would only
        # add switching (docs/security.md, "Templates and exports").
        limits = TemplateLimits(
            timeout_s=settings.template_timeout_s, max_prompt_bytes=settings.max_prompt_bytes
        )
        run_templates = TemplateRenderer(limits, threads=1, name="run-templates")
        request_templates = TemplateRenderer(limits, threads=2, name="request-templates")
        try:
            await apply_schema(pool)
            store = Store(pool)
            checker.tokens = store.tokens
            secrets = SecretBox(
                settings.secret_keys or local_secret_key(settings.data_dir),
                key_env_allow=settings.key_env_globs,
            )
            try:
                await verify_secret_key(secrets, store.secret_rows, reset=settings.secret_key_reset)
            except SecretKeyMismatch as exc:
                log.error("service_refused_to_start", reason=str(exc))
                app.state.startup_error = str(exc)
                raise
            runner = Runner(
                store=Store(engine_pool),
                session=session,
                secrets=secrets,
                max_provider_calls=settings.max_provider_calls,
                outage_batches=settings.outage_batches,
                batch_poll_s=settings.batch_poll_s,
                max_answer_bytes=settings.max_answer_bytes,
                metrics=metrics,
                templates=run_templates,
                provider_factory=provider_factory,
                owner=settings.replica,
                lease_ttl_s=settings.lease_ttl_s,
                claim_interval_s=settings.claim_interval_s,
                max_runs=settings.max_runs_per_replica,
                database_url=url,
                judging=settings.role != "api",
                serves_api=settings.role != "worker",
            )
            panels = PanelRunner(
                store=store, runner=runner, max_active=settings.max_active_runs_per_evaluation
            )
            audits = AuditRunner(audits=AuditStore(pool), runner=runner)
            run_events = RunEvents(store, metrics)
            app.state.services = Services(
                settings=settings,
                store=store,
                runner=runner,
                secrets=secrets,
                metrics=metrics,
                panels=panels,
                checker=checker,
                templates=request_templates,
                run_events=run_events,
                audits=audits,
            )
            claimed = await runner.begin()
            await panels.resume()
            await audits.resume()
            log.info(
                "service_started",
                role=settings.role,
                replica=runner.owner,
                claimed_runs=claimed,
                embedded_database=bool(embedded),
                # "uvloop" when serving (uvicorn takes it when installed), "asyncio" in tests.
                event_loop=type(asyncio.get_running_loop()).__module__.partition(".")[0],
            )
            yield
        finally:
            if run_events is not None:
                await run_events.close()
            if panels is not None:
                await panels.shutdown()
            if audits is not None:
                await audits.shutdown()
            if runner is not None:
                await runner.shutdown(settings.shutdown_grace_s)
            run_templates.close()
            request_templates.close()
            await session.close()
            await engine_pool.close()
            await pool.close()
            if embedded is not None:
                embedded.stop()
            log.info("service_stopped")

    # A worker answers only what its orchestrator and Prometheus ask (health, metrics).
    specs = [s for s in ROUTES if settings.role != "worker" or s.path in WORKER_PATHS]
    # Each handler behind its route's scope check (api/routes.py ``endpoint``).
    routes = [
        Route(spec.path, endpoint(spec), methods=[spec.method], name=spec.handler.__name__)
        for spec in specs
    ]
    if settings.role != "worker":
        routes.append(Route("/openapi.json", openapi, methods=["GET"], name="openapi"))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ClientIdleMiddleware, idle_s=settings.client_idle_s),
            Middleware(BearerAuthMiddleware, check=checker),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.openapi = build_openapi(settings.root_path)
    # --- web UI (docs/ui.md): pages under /ui/; the session cookie authenticates the
    # UI's calls to the API (CSRF-checked) by the same tokens. -------------------------
    from releval_judge.ui import mount_ui

    if settings.role != "worker":
        mount_ui(app, checker, dev_token_file=token_file)
    # --- end of web UI -----------------------------------------------------------------
    return app
