"""Provider API keys at rest: Fernet-encrypted with RELEVAL_SECRET_KEY."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = structlog.get_logger(__name__)

DEFAULT_KEY_ENV_ALLOW = ("*_API_KEY",)
# Settings the service reads besides RELEVAL_*: never a judge's key.
SERVICE_VARIABLES = frozenset({"DATABASE_URL"})


class SecretBox:
    """Encrypts and decrypts provider API keys with one key or a list of them: the first
    encrypts, every one decrypts (so a new key can be put first while what the old one
    encrypted is still read, then `rotate` re-encrypts). Any string works as a key: a
    valid Fernet key is used as it is, anything else is stretched with SHA-256."""

    def __init__(
        self, keys: str | Sequence[str], *, key_env_allow: Sequence[str] = DEFAULT_KEY_ENV_ALLOW
    ) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        self._fernet = MultiFernet([Fernet(_fernet_key(key)) for key in keys])
        self.key_env_allow = tuple(key_env_allow)

    def env_name_problem(self, name: str) -> str | None:
        """Why a judge may not name the environment variable ``name`` as its key (None
        when it may): only names matching RELEVAL_KEY_ENV_ALLOW, never the service's
        own settings, whose values (tokens, the secret key, the database URL) a judge's
        author could otherwise send to a URL of their choosing."""
        if name.upper().startswith("RELEVAL_") or name.upper() in SERVICE_VARIABLES:
            return (
                f"api_key_env cannot name {name}: the service's own settings are never "
                "sent to a provider"
            )
        if not any(fnmatch.fnmatchcase(name, glob) for glob in self.key_env_allow):
            allowed = ", ".join(self.key_env_allow) or "no variable at all"
            return (
                f"api_key_env {name} is not allowed: RELEVAL_KEY_ENV_ALLOW allows {allowed} "
                "(ask the operator, or give the judge an api_key)"
            )
        return None

    def env_key(self, name: str) -> str:
        """The value of the allowed environment variable ``name``; ValueError saying why
        when it may not be used or is not set."""
        problem = self.env_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        key = os.environ.get(name)
        if not key:
            raise ValueError(f"api_key_env {name} is not set in the service's environment")
        return key

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the first key (ValueError when no key decrypts it)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("a stored API key cannot be decrypted by any key given") from exc

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a stored API key cannot be decrypted: RELEVAL_SECRET_KEY changed since it "
                "was stored; set the key again on the judge"
            ) from exc


CANARY_TEXT = "releval-judge secret canary"


class SecretKeyMismatch(Exception):
    """RELEVAL_SECRET_KEY cannot decrypt what the database holds; the service must not start."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"RELEVAL_SECRET_KEY cannot decrypt {what} in this database: it is not the key the "
            "other replicas (or an earlier start) use. Give every replica the same "
            "RELEVAL_SECRET_KEY. If that key is lost for good, start once with "
            "RELEVAL_SECRET_KEY_RESET=1 (stored provider keys stay unreadable: set each "
            "judge's api_key again)."
        )


class CanaryStore(Protocol):
    async def secret_canary(self) -> str | None: ...
    async def store_secret_canary(self, token: str) -> str: ...
    async def replace_secret_canary(self, token: str) -> None: ...
    async def sample_encrypted_api_key(self) -> str | None: ...


def decrypts(box: SecretBox, token: str) -> bool:
    try:
        box.decrypt(token)
    except ValueError:
        return False
    return True


async def verify_secret_key(box: SecretBox, store: CanaryStore, *, reset: bool = False) -> None:
    """Check at start-up that ``box`` decrypts what the database holds: the canary written
    at the first start (or, in a database from before it, one stored API key). Raises
    SecretKeyMismatch; with ``reset`` the canary is rewritten with this key instead."""
    if reset:
        await store.replace_secret_canary(box.encrypt(CANARY_TEXT))
        log.warning("secret_key_reset", consequence="stored provider keys may be unreadable")
        return
    canary = await store.secret_canary()
    if canary is None:
        sample = await store.sample_encrypted_api_key()
        if sample is not None and not decrypts(box, sample):
            raise SecretKeyMismatch("the provider API keys stored")
        # Two replicas starting at once with different keys: only one canary is kept.
        canary = await store.store_secret_canary(box.encrypt(CANARY_TEXT))
    if not decrypts(box, canary):
        raise SecretKeyMismatch("the canary that the first replica stored")


def _fernet_key(key: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return key.encode()
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


def local_secret_key(data_dir: Path) -> str:
    """A key kept in ``data_dir/secret.key`` for when RELEVAL_SECRET_KEY is not set
    (development); production sets the variable so that keys survive a lost data folder."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    path.write_text(key + "\n")
    path.chmod(0o600)
    log.warning("secret_key_generated", path=str(path))
    return key


def hash_token(token: str) -> str:
    """API tokens are stored and compared as SHA-256 hex digests only."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "rj_" + secrets.token_urlsafe(32)


def constant_time_in(candidate: str, allowed: list[str]) -> bool:
    """Is ``candidate`` one of ``allowed``? Compares every entry in constant time."""
    found = False
    for token in allowed:
        found |= hmac.compare_digest(candidate.encode(), token.encode())
    return found
