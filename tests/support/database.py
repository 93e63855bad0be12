"""Databases of their own for tests, on a real PostgreSQL server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, name: str) -> AsyncIterator[str]:
    """The URL of a new, empty database ``name`` on ``server_url``'s server, dropped after."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_url, name)
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def forget_fingerprints(url: str) -> None:
    """Make the judgments of the test that just ended unreusable by the next one.

    Tests share one database, and many judge the same few documents with the same model
    on a loopback port the OS hands out again: a later test's judge on a recycled port has
    the same deciding settings as an earlier one's, and would take its grades instead of
    asking its own provider (a panel test once counted 1 disagreement instead of 2 this
    way). Reuse within a test is unaffected; nothing else is deleted."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('ai_run_judgments') IS NOT NULL"):
            await conn.execute(
                "UPDATE ai_run_judgments SET fingerprint = NULL WHERE fingerprint IS NOT NULL"
            )
            await conn.execute(
                "UPDATE ai_judging_runs SET settings_fingerprint = NULL"
                " WHERE settings_fingerprint IS NOT NULL"
            )
    finally:
        await conn.close()
