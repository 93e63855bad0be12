"""verify_secret_key: which databases a key fits, without a database (a fake store)."""

from __future__ import annotations

import pytest

from releval_judge.secrets import SecretBox, SecretKeyMismatch, verify_secret_key


class Canaries:
    def __init__(self, canary: str | None = None, sample: str | None = None) -> None:
        self.canary = canary
        self.sample = sample

    async def secret_canary(self) -> str | None:
        return self.canary

    async def store_secret_canary(self, token: str) -> str:
        if self.canary is None:
            self.canary = token
        return self.canary

    async def replace_secret_canary(self, token: str) -> None:
        self.canary = token

    async def sample_encrypted_api_key(self) -> str | None:
        return self.sample


async def test_the_first_start_stores_a_canary_that_only_its_key_decrypts() -> None:
    store = Canaries()
    await verify_secret_key(SecretBox("key-a"), store)
    assert store.canary is not None
    await verify_secret_key(SecretBox("key-a"), store)
    with pytest.raises(SecretKeyMismatch, match="same RELEVAL_SECRET_KEY"):
        await verify_secret_key(SecretBox("key-b"), store)


async def test_a_database_from_before_the_canary_is_checked_against_a_stored_key() -> None:
    old = SecretBox("old-key").encrypt("sk-provider")
    with pytest.raises(SecretKeyMismatch, match="provider API keys"):
        await verify_secret_key(SecretBox("new-key"), Canaries(sample=old))
    fits = Canaries(sample=old)
    await verify_secret_key(SecretBox("old-key"), fits)
    assert fits.canary is not None


async def test_reset_makes_the_new_key_the_databases_key() -> None:
    store = Canaries()
    await verify_secret_key(SecretBox("lost-key"), store)
    await verify_secret_key(SecretBox("new-key"), store, reset=True)
    await verify_secret_key(SecretBox("new-key"), store)
    with pytest.raises(SecretKeyMismatch):
        await verify_secret_key(SecretBox("lost-key"), store)
