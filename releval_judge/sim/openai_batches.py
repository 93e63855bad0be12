"""OpenAI's Files and Batch APIs, as far as a chat-completions batch needs them.

Routes (under ``/v1``, and under ``/openai/v1`` for Azure OpenAI):

* ``POST /files`` (multipart ``purpose=batch``, ``file``), ``GET /files/{id}``,
  ``GET /files/{id}/content``;
* ``POST /batches``, ``GET /batches`` (newest first, ``limit``, ``after``),
  ``GET /batches/{id}``, ``POST /batches/{id}/cancel``.

The input file is checked when the batch is created, like OpenAI's validation step: any
error makes the batch ``failed`` with ``errors``. When a batch ends, its output file holds
a line per request answered 200 and its error file a line per request that failed or, for
an expired batch, was never run; either file is absent (``null``) when it would be empty,
as on OpenAI. A cancelled batch's requests not run appear in neither.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from releval_judge.sim.batches import Batch, BatchRequest, BatchStore, schedule
from releval_judge.sim.config import SimConfig
from releval_judge.sim.dialects import Handler, OpenAIDialect, SimError, authenticated
from releval_judge.sim.stats import SimStats

Clock = Callable[[], float]

MAX_FILE_BYTES = 200 * 1024 * 1024
_MAX_LISTED_ERRORS = 100
_EXPIRED_ERROR = {
    "code": "batch_expired",
    "message": "This request could not be executed before the completion window expired.",
}


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    created_at: int
    content: bytes

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


class FileStore:
    """Uploaded input files and the output and error files of ended batches."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def add(self, filename: str, purpose: str, content: bytes, now: float) -> StoredFile:
        stored = StoredFile(f"file-{uuid.uuid4().hex}", filename, purpose, int(now), content)
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)


class _CreateBatch(BaseModel):
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None = None


class OpenAIBatchAPI:
    """The Files and Batch routes of one dialect (OpenAI's, or Azure's ``/openai/v1``,
    which also takes ``/chat/completions`` as the endpoint)."""

    def __init__(
        self,
        config: SimConfig,
        store: BatchStore,
        files: FileStore,
        stats: SimStats,
        clock: Clock,
        dialect: OpenAIDialect,
        endpoints: tuple[str, ...] = ("/v1/chat/completions",),
    ) -> None:
        self._config = config
        self._store = store
        self._files = files
        self._stats = stats
        self._clock = clock
        self._dialect = dialect
        self._endpoints = endpoints

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        router.add_post(f"{prefix}/files", self._guarded(self.upload_file))
        router.add_get(f"{prefix}/files/{{file_id}}", self._guarded(self.get_file))
        router.add_get(f"{prefix}/files/{{file_id}}/content", self._guarded(self.file_content))
        router.add_post(f"{prefix}/batches", self._guarded(self.create_batch))
        router.add_get(f"{prefix}/batches", self._guarded(self.list_batches))
        router.add_get(f"{prefix}/batches/{{batch_id}}", self._guarded(self.get_batch))
        router.add_post(f"{prefix}/batches/{{batch_id}}/cancel", self._guarded(self.cancel_batch))

    def _guarded(self, handler: Handler) -> Handler:
        """Credentials first, as on the live route; errors in the dialect's shape."""
        return authenticated(handler, self._dialect, self._config.api_key)

    async def upload_file(self, request: web.Request) -> web.StreamResponse:
        if not request.content_type.startswith("multipart/"):
            raise _invalid("Expected a multipart/form-data body with 'purpose' and 'file'.")
        form = await request.post()
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise _invalid("Missing required parameter: 'file'.", param="file")
        if purpose != "batch":
            raise _invalid(
                f"Invalid value for 'purpose': {purpose!r}. The simulator supports 'batch'.",
                param="purpose",
            )
        content = upload.file.read()
        if len(content) > MAX_FILE_BYTES:
            raise _invalid(
                f"File is too large: {len(content)} bytes; the limit is {MAX_FILE_BYTES}.",
                param="file",
            )
        stored = self._files.add(upload.filename, "batch", content, self._clock())
        self._stats.file_uploaded()
        return web.json_response(stored.describe())

    async def get_file(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._file(request).describe())

    async def file_content(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self._file(request).content, content_type="application/octet-stream"
        )

    def _file(self, request: web.Request) -> StoredFile:
        file_id = request.match_info["file_id"]
        stored = self._files.get(file_id)
        if stored is None:
            raise SimError(404, "not_found", f"No such File object: {file_id}", param="id")
        return stored

    async def create_batch(self, request: web.Request) -> web.StreamResponse:
        try:
            body = _CreateBatch.model_validate_json(await request.read())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise _invalid(f"{where}: {first['msg']}" if where else first["msg"]) from exc
        if body.endpoint not in self._endpoints:
            supported = ", ".join(f"'{e}'" for e in self._endpoints)
            raise _invalid(
                f"Invalid value: '{body.endpoint}'. Supported values are: {supported}.",
                param="endpoint",
                code="invalid_value",
            )
        if body.completion_window != "24h":
            raise _invalid(
                f"Invalid value: '{body.completion_window}'. Supported values are: '24h'.",
                param="completion_window",
                code="invalid_value",
            )
        stored = self._files.get(body.input_file_id)
        if stored is None or stored.purpose != "batch":
            raise _invalid(
                f"Invalid 'input_file_id': '{body.input_file_id}'. No file with purpose "
                "'batch' has this id.",
                param="input_file_id",
            )
        now = self._clock()
        requests, errors = read_input_file(
            stored.content, body.endpoint, self._config.batch_max_requests
        )
        batch = Batch(
            id=f"batch_{uuid.uuid4().hex}",
            provider="openai",
            plan=schedule("openai", now, self._config),
            requests=requests,
            errors=errors,
            extra={
                "input_file_id": stored.id,
                "endpoint": body.endpoint,
                "completion_window": body.completion_window,
                "metadata": body.metadata,
                "output_file_id": None,
                "error_file_id": None,
            },
        )
        self._stats.batch_created(len(requests))
        return web.json_response(self._describe(self._store.add(batch, now)))

    async def get_batch(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._describe(self._batch(request)))

    async def list_batches(self, request: web.Request) -> web.StreamResponse:
        limit = _limit(request.query.get("limit"))
        after = request.query.get("after")
        batches = list(self._store.newest_first("openai", self._clock()))
        if after is not None:
            ids = [b.id for b in batches]
            batches = batches[ids.index(after) + 1 :] if after in ids else []
        page = batches[:limit]
        return web.json_response(
            {
                "object": "list",
                "data": [self._describe(b) for b in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(batches) > limit,
            }
        )

    async def cancel_batch(self, request: web.Request) -> web.StreamResponse:
        batch = self._batch(request)
        if batch.ended:
            raise SimError(
                409,
                "invalid_request",
                f"Cannot cancel a batch with status '{batch.state.status}'.",
            )
        if batch.cancelled_at is None:
            self._stats.batch_cancelled()
        return web.json_response(self._describe(self._store.cancel(batch, self._clock())))

    def _batch(self, request: web.Request) -> Batch:
        batch_id = request.match_info["batch_id"]
        batch = self._store.get(batch_id, "openai", self._clock())
        if batch is None:
            raise SimError(404, "not_found", f"No batch found with id '{batch_id}'.", param="id")
        return batch

    def _describe(self, batch: Batch) -> dict[str, Any]:
        """The batch object; an ended batch's output and error files are written once."""
        state = batch.state
        if batch.ended and batch.extra.get("files_written") is None:
            self._write_files(batch)
        failed = sum(1 for r in batch.results if not r.succeeded)
        if state.status == "expired":
            failed += len(batch.requests) - len(batch.results)
        ended_at = _epoch(state.ended_at)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.extra["endpoint"],
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.extra["input_file_id"],
            "completion_window": batch.extra["completion_window"],
            "status": state.status,
            "output_file_id": batch.extra["output_file_id"],
            "error_file_id": batch.extra["error_file_id"],
            "created_at": int(batch.plan.created_at),
            "in_progress_at": _epoch(state.in_progress_at),
            "expires_at": int(batch.plan.expires_at),
            "finalizing_at": _epoch(state.finalizing_at),
            "completed_at": ended_at if state.status == "completed" else None,
            "failed_at": ended_at if state.status == "failed" else None,
            "expired_at": ended_at if state.status == "expired" else None,
            "cancelling_at": _epoch(state.cancelling_at),
            "cancelled_at": ended_at if state.status == "cancelled" else None,
            "request_counts": {
                "total": len(batch.requests),
                "completed": len(batch.results) - sum(1 for r in batch.results if not r.succeeded),
                "failed": failed,
            },
            "metadata": batch.extra["metadata"],
        }

    def _write_files(self, batch: Batch) -> None:
        output: list[str] = []
        errors: list[str] = []
        for request, result in zip(batch.requests, batch.results, strict=False):
            line = {
                "id": f"batch_req_{uuid.uuid4().hex}",
                "custom_id": request.custom_id,
                "response": {
                    "status_code": result.status,
                    "request_id": f"req_{uuid.uuid4().hex}",
                    "body": result.body,
                },
                "error": None,
            }
            (output if result.succeeded else errors).append(json.dumps(line))
        if batch.state.status == "expired":
            errors += [
                json.dumps(
                    {
                        "id": f"batch_req_{uuid.uuid4().hex}",
                        "custom_id": request.custom_id,
                        "response": None,
                        "error": _EXPIRED_ERROR,
                    }
                )
                for request in batch.requests[len(batch.results) :]
            ]
        now = self._clock()
        for lines, key, name in (
            (output, "output_file_id", "batch_output.jsonl"),
            (errors, "error_file_id", "batch_errors.jsonl"),
        ):
            if lines:
                content = ("\n".join(lines) + "\n").encode()
                batch.extra[key] = self._files.add(name, "batch_output", content, now).id
        batch.extra["files_written"] = True


def read_input_file(
    content: bytes, endpoint: str, max_requests: int
) -> tuple[list[BatchRequest], list[dict[str, Any]]]:
    """The requests of a batch input file, or the errors that make the batch fail
    (codes as OpenAI's: ``invalid_json_line``, ``missing_required_parameter``,
    ``invalid_method``, ``url_mismatch``, ``duplicate_custom_id``, ``model_mismatch``,
    ``empty_file``, ``too_many_tasks``); ``line`` is 1-based."""
    lines = [
        (number, text)
        for number, text in enumerate(content.decode("utf-8", "replace").splitlines(), start=1)
        if text.strip()
    ]
    if not lines:
        return [], [_line_error("empty_file", "The batch input file is empty.", None)]
    if len(lines) > max_requests:
        message = (
            f"The batch input file has {len(lines)} requests; a batch holds at most {max_requests}."
        )
        return [], [_line_error("too_many_tasks", message, None)]
    requests: list[BatchRequest] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, text in lines:
        try:
            line = json.loads(text)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            errors.append(
                _line_error(
                    "invalid_json_line", "This line is not parseable as valid JSON.", number
                )
            )
            continue
        error = _line_problem(line, endpoint, seen, model)
        if error is not None:
            errors.append({**error, "line": number})
            continue
        seen.add(line["custom_id"])
        model = model or line["body"].get("model")
        requests.append(BatchRequest(line["custom_id"], json.dumps(line["body"]).encode()))
    return requests, errors[:_MAX_LISTED_ERRORS]


def _line_problem(
    line: dict[str, Any], endpoint: str, seen: set[str], model: str | None
) -> dict[str, Any] | None:
    for name, kind in (("custom_id", str), ("method", str), ("url", str), ("body", dict)):
        value = line.get(name)
        if not isinstance(value, kind) or not value:
            return _line_error(
                "missing_required_parameter", f"Missing required parameter: '{name}'.", None, name
            )
    if line["method"] != "POST":
        return _line_error(
            "invalid_method",
            f"Invalid method '{line['method']}'; only POST is supported.",
            None,
            "method",
        )
    if line["url"] != endpoint:
        return _line_error(
            "url_mismatch",
            f"The provided URL '{line['url']}' does not match the batch endpoint '{endpoint}'.",
            None,
            "url",
        )
    if line["custom_id"] in seen:
        return _line_error(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. The custom_id "
            "parameter must be unique for each request in a batch.",
            None,
            "custom_id",
        )
    line_model = line["body"].get("model")
    if model is not None and line_model != model:
        return _line_error(
            "model_mismatch",
            f"The provided model '{line_model}' does not match the model of the other "
            f"requests in this batch ('{model}').",
            None,
            "body.model",
        )
    return None


def _line_error(
    code: str, message: str, line: int | None, param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> SimError:
    return SimError(400, "invalid_request", message, param=param, code=code)


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise _invalid(
            f"Invalid 'limit': {raw!r}; expected an integer from 1 to 100.", param="limit"
        )
    return int(raw)


def _epoch(moment: float | None) -> int | None:
    return None if moment is None else int(moment)
