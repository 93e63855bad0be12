"""The service layer: the use cases both faces (the REST API and the web UI) call.

:class:`Services` holds what they need, built once by the app's lifespan. A use case is a
function of a module here that takes it (and plain arguments: a parsed request model,
ids, the actor's name) and returns models; it knows nothing of HTTP. Its errors are the
domain errors of ``releval_judge.errors``. By resource: ``judges``, ``evaluation_runs``,
``judging_runs``, ``judgments`` (listing, human grades), ``exports``, ``tokens``,
``health``, ``audits``; ``auth`` turns tokens into principals; ``run_events`` feeds runs' event
streams."""

from __future__ import annotations

from dataclasses import dataclass

from releval_judge.config import Settings
from releval_judge.engine.audits import AuditRunner
from releval_judge.engine.panel_runs import PanelRunner
from releval_judge.engine.rendering import TemplateRenderer
from releval_judge.engine.runner import Runner
from releval_judge.secrets import SecretBox
from releval_judge.services.auth import TokenChecker
from releval_judge.services.run_events import RunEvents
from releval_judge.store.store import Store
from releval_judge.telemetry import Metrics


@dataclass
class Services:
    settings: Settings
    store: Store
    runner: Runner
    secrets: SecretBox
    metrics: Metrics
    panels: PanelRunner
    # This replica's token cache: the token API makes it forget a revoked token at once.
    checker: TokenChecker
    # Prompt templates compiled and rendered for requests (save, test, estimate,
    # preview): threads of their own, apart from the judging runs' (runner.templates).
    templates: TemplateRenderer
    # One reader per watched run on this replica, shared by the run's event streams.
    run_events: RunEvents
    # Audits of judging runs (engine/audits.py): tasks of this replica.
    audits: AuditRunner
