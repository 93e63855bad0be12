"""Settings: environment variables read once at start-up and passed explicitly."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from releval_judge.providers.outbound import OutboundPolicy


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable."""


class Settings(BaseSettings):
    """Every knob of the service; see the settings table in README.md."""

    model_config = SettingsConfigDict(env_prefix="RELEVAL_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        None, validation_alias=AliasChoices("RELEVAL_DATABASE_URL", "DATABASE_URL")
    )
    data_dir: Path = Path(".releval")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    root_path: str = ""
    api_tokens: SecretStr = SecretStr("")
    secret_key: SecretStr | None = None
    # Accept a new RELEVAL_SECRET_KEY although it cannot decrypt what the database holds.
    secret_key_reset: bool = False
    max_provider_calls: int = Field(512, ge=1, le=100_000)
    outage_batches: int = Field(3, ge=1, le=1000)
    # The longest wait between a batch-delivery run's polls of its provider batches: the
    # first comes after 2 s, each next one twice the last, up to this (engine/polling.py).
    batch_poll_s: float = Field(30.0, gt=0, le=3600)
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_active_runs_per_evaluation: int = Field(8, ge=1, le=1000)
    shutdown_grace_s: float = Field(30.0, ge=0)
    db_pool_size: int = Field(20, ge=2, le=500)
    db_api_pool_size: int = Field(5, ge=2, le=500)
    # Replicas (docs/decisions.md, "Replicas"): a run is judged by the replica holding its
    # lease; a dead replica's runs are claimed by another after at most ttl + claim interval.
    replica_id: str | None = Field(None, min_length=1, max_length=200)
    lease_ttl_s: float = Field(30.0, ge=1.0, le=3600)
    claim_interval_s: float = Field(5.0, gt=0, le=600)
    max_runs_per_replica: int = Field(64, ge=1, le=10_000)
    # all: API and judging (one process); api: never judges; worker: judges, and answers
    # only /healthz, /readyz and /metrics.
    role: Literal["all", "api", "worker"] = "all"
    # --- security (docs/security.md) -------------------------------------------------
    # Provider addresses that are not public and may still be connected to: a comma list
    # of hosts, host:port and CIDRs (e.g. "127.0.0.1,10.0.0.0/8,vllm.internal:8000").
    provider_allow: str = ""
    # The environment variables a judge's api_key_env may name: a comma list of globs
    # (RELEVAL_* never, whatever this says).
    key_env_allow: str = "*_API_KEY"
    # A client that sends or reads nothing for this long is cut off.
    client_idle_s: float = Field(30.0, gt=0, le=3600)
    # The largest NDJSON import (413 beyond it).
    max_import_bytes: int = Field(4 * 1024**3, ge=1024)
    # X-Forwarded-* headers are believed only from these addresses (comma list, or "*").
    forwarded_allow_ips: str = "127.0.0.1"
    # Untrusted content: a prompt renders within this time and size, a provider answer
    # (and each line of a batch result file) is read up to this size.
    template_timeout_s: float = Field(2.0, gt=0, le=600)
    max_prompt_bytes: int = Field(1_000_000, ge=1000, le=1_000_000_000)
    max_answer_bytes: int = Field(16 * 1024 * 1024, ge=1024, le=4 * 1024**3)

    @field_validator("root_path")
    @classmethod
    def _normalise_root_path(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("/"):
            raise ValueError("must start with '/' (e.g. /releval)")
        return value.rstrip("/")

    @field_validator("provider_allow")
    @classmethod
    def _check_provider_allow(cls, value: str) -> str:
        OutboundPolicy.parse(value)  # a bad entry stops start-up, named
        return value

    @property
    def outbound_policy(self) -> OutboundPolicy:
        """RELEVAL_PROVIDER_ALLOW, parsed (docs/security.md, "Outbound policy")."""
        return OutboundPolicy.parse(self.provider_allow)

    @property
    def replica(self) -> str:
        """This replica's name as a lease owner: RELEVAL_REPLICA_ID, else host:port. It
        must be unique among live replicas; a restarted replica with the same name takes
        back its runs at once instead of waiting for their leases to expire."""
        if self.replica_id:
            return self.replica_id
        if self.port == 0:
            return f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        return f"{socket.gethostname()}:{self.port}"

    @property
    def static_tokens(self) -> list[str]:
        return _comma_list(self.api_tokens.get_secret_value())

    @property
    def secret_keys(self) -> list[str]:
        """RELEVAL_SECRET_KEY as a list: the first encrypts, every one decrypts."""
        if self.secret_key is None:
            return []
        return _comma_list(self.secret_key.get_secret_value())

    @property
    def key_env_globs(self) -> list[str]:
        return _comma_list(self.key_env_allow)


def _comma_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def load_settings() -> Settings:
    """Read the environment; a bad value raises SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            variable = field if field.isupper() else f"RELEVAL_{field.upper()}"
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from exc
