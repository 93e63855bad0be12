"""Domain errors: each carries the data a user needs and maps to one HTTP error code.

The HTTP mapping lives in ``web/errors.py``; the store and the engine raise these.
``validation_details`` puts pydantic's errors in the contract's shape, for every input a
request carries (body, query, path) and whichever layer checks it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError


class DomainError(Exception):
    """Base: ``code`` is the stable machine-readable error code of the contract."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404
    code = "not_found"

    def __init__(self, resource: str, identifier: str) -> None:
        super().__init__(f"{resource} {identifier!r} not found")
        self.resource = resource
        self.identifier = identifier


class EvaluationRunNotCompleted(DomainError):
    status_code = 409
    code = "evaluation_run_not_completed"

    def __init__(self, evaluation_run_id: str, status: str) -> None:
        # The route that completes a run is the user's next step (the tool that fills the
        # run may never do it: an import through the API leaves the status as it was sent).
        super().__init__(
            f"evaluation run {evaluation_run_id} is {status}; AI judging needs a completed run: "
            "once its candidates are all in, mark it completed with PATCH "
            f'/api/v1/evaluations/runs/{evaluation_run_id} {{"status": "completed"}}',
            details={"status": status, "complete_with": {"status": "completed"}},
        )
        self.status = status


class EvaluationRunLocked(DomainError):
    status_code = 409
    code = "evaluation_run_locked"

    def __init__(self, evaluation_run_id: str) -> None:
        super().__init__(
            f"evaluation run {evaluation_run_id} is locked; a locked run rejects every "
            'judgment change (unlock it with PATCH {"locked": false})'
        )
        self.evaluation_run_id = evaluation_run_id


class JudgingRunEnded(DomainError):
    status_code = 409
    code = "judging_run_ended"

    def __init__(self, judging_run_id: str, status: str) -> None:
        super().__init__(f"AI judging run {judging_run_id} already ended ({status})")
        self.status = status


class JudgeInUse(DomainError):
    status_code = 409
    code = "judge_in_use"

    def __init__(self, judge_id: str, active_runs: int) -> None:
        super().__init__(
            f"AI judge {judge_id} is used by {active_runs} queued or running judging run(s); "
            "cancel them or wait for them to end"
        )


class TooManyActiveRuns(DomainError):
    status_code = 409
    code = "too_many_active_runs"

    def __init__(self, evaluation_run_id: str, limit: int) -> None:
        super().__init__(
            f"evaluation run {evaluation_run_id} already has {limit} queued or running AI "
            "judging runs (the limit); wait for one to end or cancel one"
        )


class ValidationFailed(DomainError):
    """Input that parsed but does not make sense (422)."""

    status_code = 422
    code = "validation_error"


class DuplicateCandidate(ValidationFailed):
    """An import's (query_id, doc_id) pair that is twice in the upload or already in the
    evaluation run (a document is ranked once per query). `key` is the pair as PostgreSQL
    renders it (`q1, d1`); `lines`, once found, the upload's lines that hold it."""

    def __init__(
        self, key: str, *, lines: list[int] | None = None, pair: tuple[str, str] | None = None
    ) -> None:
        self.key = key
        lines = lines or []
        if pair is None or not lines:
            message = f"a (query_id, doc_id) pair appears twice, or is already in the run: {key}"
            details: list[dict[str, Any]] = [{"loc": ["body"], "msg": message}]
        else:
            query_id, doc_id = pair
            said = f"query_id {query_id!r} with doc_id {doc_id!r}"
            if len(lines) == 1:
                message = f"line {lines[0]}: {said} is already in the evaluation run"
            else:
                message = f"lines {lines[0]} and {lines[1]} both have {said}"
            message += " (a document is ranked once per query)"
            details = [
                {"loc": [f"line {n}", "doc_id"], "msg": message, "type": "duplicate"} for n in lines
            ]
        super().__init__(f"{message}; nothing was imported", details=details)


class InvalidJson(DomainError):
    status_code = 400
    code = "invalid_json"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit: int, *, setting: str = "RELEVAL_MAX_BODY_BYTES") -> None:
        super().__init__(
            f"request body larger than {limit} bytes (the limit, {setting})",
            details={"limit": limit, "setting": setting},
        )


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """The token is valid but lacks the scope the route needs (docs/security.md)."""

    status_code = 403
    code = "forbidden"

    def __init__(self, needed: str, held: list[str], route: str) -> None:
        super().__init__(
            f"this token's scopes are {', '.join(held)}; {route} needs {needed}",
            details={"required_scope": needed, "token_scopes": held},
        )


class ProviderFailed(DomainError):
    """A judge test could not use the provider at all (authentication, unknown model,
    exhausted quota, API key unavailable): every call would fail the same way."""

    status_code = 502
    code = "provider_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, details={"provider_status": status})


class PanelInUse(DomainError):
    status_code = 409
    code = "panel_in_use"

    def __init__(self, panel_id: str, running: int) -> None:
        super().__init__(
            f"judge panel {panel_id} has {running} running panel run(s); cancel them or wait "
            "for them to end"
        )


class PanelRunEnded(DomainError):
    status_code = 409
    code = "panel_run_ended"

    def __init__(self, panel_run_id: str, status: str) -> None:
        super().__init__(f"panel run {panel_run_id} already ended ({status})")
        self.status = status


class LeaseLost(Exception):
    """This replica no longer holds the judging run's lease (another replica claimed it
    after the lease expired): it must write nothing more for the run and stop its calls.
    Never an HTTP error: the engine handles it."""

    def __init__(self, judging_run_id: str) -> None:
        super().__init__(f"the lease of judging run {judging_run_id} was lost")
        self.judging_run_id = judging_run_id


# --- pydantic's errors in the contract's shape (request bodies, queries, path segments) -


def validation_details(exc: ValidationError, prefix: str = "body") -> list[dict[str, Any]]:
    """Pydantic's error list, JSON-safe, with locations prefixed like FastAPI's."""
    # parse_constant: an input of NaN or Infinity is echoed back as a string, since a
    # JSON response cannot carry it as a number.
    details: list[dict[str, Any]] = json.loads(exc.json(include_url=False), parse_constant=str)
    for item in details:
        item["loc"] = [prefix, *item.get("loc", [])]
        _redact_secrets(item)
    return details


# Request fields whose values are never echoed back (an error's `input` included).
SECRET_FIELDS = frozenset({"api_key", "token"})
REDACTED = "[redacted]"


def _redact_secrets(item: dict[str, Any]) -> None:
    """An error about a secret field, or whose input holds one, shows `[redacted]` there."""
    if "input" not in item:
        return
    # An unknown field may be a misspelt secret ("apikey"): its value is not echoed either.
    if item.get("type") == "extra_forbidden" or any(p in SECRET_FIELDS for p in item["loc"]):
        item["input"] = REDACTED
    elif isinstance(item["input"], dict):
        item["input"] = _redacted(item["input"])


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_FIELDS else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def summarise(details: list[dict[str, Any]]) -> str:
    first = details[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or first["loc"][0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{where}: {first['msg']}{more}"


class AuditEnded(DomainError):
    status_code = 409
    code = "audit_ended"

    def __init__(self, audit_id: str, status: str) -> None:
        super().__init__(f"audit {audit_id} already ended ({status})")
        self.status = status


class NothingToAudit(DomainError):
    status_code = 409
    code = "nothing_to_audit"

    def __init__(self, judging_run_id: str, status: str) -> None:
        super().__init__(
            f"AI judging run {judging_run_id} ({status}) has judged no candidate: an audit "
            "re-judges a sample of a run's judgments; audit a run that judged some"
        )
        self.status = status
