"""How to reach one model: the provider, its model, its base URL (or the public API's),
the key, and the limits of one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

ProviderName = Literal["openai", "anthropic"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]

DEFAULT_BASE_URLS: Mapping[ProviderName, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}

# Azure OpenAI's hosts; a path under /openai/ (deployments, or the v1 API) on another host,
# such as a gateway or a test server, is taken for Azure's too.
_AZURE_HOST_SUFFIXES = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
)


class ProviderConfig(BaseModel):
    """How to reach one model. Immutable; the API key never appears in repr or logs."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: SecretStr | None = None
    # None: not sent (reasoning models refuse any value but their default).
    temperature: float | None = Field(default=None, ge=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    request_timeout_s: float = Field(default=60, gt=0)
    reasoning_effort: ReasoningEffort | None = None
    # The most bytes read of one answer (RELEVAL_MAX_ANSWER_BYTES), and of one line of a
    # batch result file.
    max_answer_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    @property
    def resolved_base_url(self) -> str:
        """`base_url`, or the provider's public API when none is given; no trailing slash."""
        return (self.base_url or DEFAULT_BASE_URLS[self.provider]).rstrip("/")

    def endpoint(self, path: str) -> str:
        """`path` appended to the base URL's path, its query string kept (Azure's classic
        URLs carry `?api-version=…`): `…/deployments/d?api-version=v` + `/chat/completions`
        is `…/deployments/d/chat/completions?api-version=v`. A query string of `path`'s own
        (list pagination) is added to the base URL's."""
        parts = urlsplit(self.resolved_base_url)
        path, _, query = path.partition("?")
        joined = "&".join(q for q in (parts.query, query) if q)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path, query=joined))

    def with_timeout_at_least(self, seconds: float) -> ProviderConfig:
        """The same config with `request_timeout_s` raised to `seconds` (uploads and
        downloads of provider batches take longer than one call)."""
        if self.request_timeout_s >= seconds:
            return self
        return self.model_copy(update={"request_timeout_s": seconds})

    @property
    def is_azure(self) -> bool:
        """Azure OpenAI: its hosts, or a base URL in Azure's path forms
        (`/openai/deployments/{deployment}`, `/openai/v1`)."""
        if self.provider != "openai":
            return False
        parts = urlsplit(self.resolved_base_url)
        path = parts.path.rstrip("/")
        return (
            (parts.hostname or "").endswith(_AZURE_HOST_SUFFIXES)
            or "/openai/deployments/" in path + "/"
            or path.endswith("/openai/v1")
        )

    @property
    def api_key_value(self) -> str | None:
        """The plain API key, or None when absent or empty (local servers need none)."""
        if self.api_key is None:
            return None
        return self.api_key.get_secret_value() or None
