"""Provider API keys at rest: Fernet-encrypted with RELEVAL_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken

log = structlog.get_logger(__name__)


class SecretBox:
    """Encrypts and decrypts provider API keys. Any string works as a key: a valid Fernet
    key is used as it is, anything else is stretched with SHA-256."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(_fernet_key(key))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a stored API key cannot be decrypted: RELEVAL_SECRET_KEY changed since it "
                "was stored; set the key again on the judge"
            ) from exc


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
