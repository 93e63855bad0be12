"""The web UI under ``/ui/``: server-rendered pages, a little JavaScript, no build step.

:func:`mount_ui` adds its routes, its static files and the cookie-session middleware to the
app that ``create_app`` built. See docs/ui.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from releval_judge.ui import analysis, compare, judges, login, queue, review, runs
from releval_judge.ui.pages import UiState
from releval_judge.ui.session import CookieSessionMiddleware
from releval_judge.web.middleware import BearerAuthMiddleware, TokenCheck

HERE = Path(__file__).resolve().parent


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def ui_routes() -> list[Route | Mount]:
    return [
        Route("/", login.home, methods=["GET"], name="home"),
        Route("/login", login.login_form, methods=["GET"], name="login_form"),
        Route("/login", login.login, methods=["POST"], name="login"),
        Route("/logout", login.logout, methods=["POST"], name="logout"),
        Route("/runs", runs.runs_page, methods=["GET"], name="runs"),
        Route("/runs/{run_id}", runs.run_page, methods=["GET"], name="run"),
        Route("/runs/{run_id}/review", review.review_page, methods=["GET"], name="review"),
        Route("/runs/{run_id}/metrics", analysis.metrics_page, methods=["GET"], name="metrics"),
        Route("/runs/{run_id}/queue", queue.queue_page, methods=["GET"], name="queue"),
        Route("/compare", compare.compare_page, methods=["GET"], name="compare"),
        Route(
            "/panel-runs/{panel_run_id}",
            analysis.panel_run_page,
            methods=["GET"],
            name="panel_run",
        ),
        Route(
            "/judging-runs/{judging_run_id}",
            runs.judging_run_page,
            methods=["GET"],
            name="judging_run",
        ),
        Route("/judges", judges.judges_page, methods=["GET"], name="judges"),
        Route("/judges/new", judges.new_judge_page, methods=["GET"], name="new_judge"),
        Route("/judges/{judge_id}", judges.judge_page, methods=["GET"], name="judge"),
        Route(
            "/template-preview",
            judges.template_preview,
            methods=["POST"],
            name="template_preview",
        ),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def mount_ui(app: Starlette, check: TokenCheck, *, dev_token_file: Path | None = None) -> None:
    """Serve the UI under ``/ui/`` and let its pages call the API with the session cookie.

    The cookie middleware goes right before the bearer-token check, which then sees the
    cookie's token as an ``Authorization`` header. ``dev_token_file``: where the
    development token is kept, when there is one (the login page names it).
    """
    app.state.ui = UiState(check=check, templates=templates(), dev_token_file=dev_token_file)
    app.router.routes.append(Mount("/ui", routes=ui_routes(), name="ui"))
    position = next(
        (
            i
            for i, m in enumerate(app.user_middleware)
            if cast(object, m.cls) is BearerAuthMiddleware
        ),
        len(app.user_middleware),
    )
    app.user_middleware.insert(position, Middleware(CookieSessionMiddleware))
