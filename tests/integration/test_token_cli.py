"""``releval-judge token create | list | revoke``, run as the operator would (a subprocess on
the service's database), seen from the live service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.support.api import assert_error
from tests.support.cli import Result, cli
from tests.support.service import Service
from tests.support.tokens import bearer
from tests.support.waiting import wait_for


async def token_cli(database_url: str, data_dir: Path, *args: str) -> Result:
    env = {"RELEVAL_DATABASE_URL": database_url, "RELEVAL_DATA_DIR": str(data_dir)}
    return await cli("token", *args, env=env)


def table(output: str) -> list[list[str]]:
    """``token list``'s rows, split on the runs of spaces between columns."""
    lines = output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED"]
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines[1:]]


async def test_create_defaults_to_read_and_list_shows_scopes_and_expiry(
    service: Service, database_url: str, tmp_path: Path
) -> None:
    made = await token_cli(database_url, tmp_path, "create", "--name", "dashboard")
    assert made.code == 0, made.stderr
    reader = made.stdout.strip()
    assert "scopes read" in made.stderr and "shown only this once" in made.stderr
    status, _ = await service.request("GET", "/evaluations/runs", headers=bearer(reader))
    assert status == 200
    status, body = await service.request(
        "POST", "/ai-judges", json={"name": "j"}, headers=bearer(reader)
    )
    assert_error(status, body, 403, "forbidden")

    made = await token_cli(
        database_url, tmp_path, "create", "--name", "nightly ci", "--scope", "write",
        "--expires-in", "7",
    )  # fmt: skip
    assert made.code == 0, made.stderr
    status, body = await service.request(
        "POST",
        "/ai-judges",
        json={"name": "by ci", "provider": "openai", "model": "m"},
        headers=bearer(made.stdout.strip()),
    )
    assert status == 201, body

    listed = await token_cli(database_url, tmp_path, "list")
    assert listed.code == 0, listed.stderr
    rows = {row[1]: row for row in table(listed.stdout)}
    assert rows["dashboard"][2] == "read"
    assert rows["dashboard"][4:] == ["-", "-"]  # no expiry, not revoked
    assert rows["nightly ci"][2] == "write"
    expires = datetime.strptime(rows["nightly ci"][4], "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(days=6.9) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert made.stdout.strip() not in listed.stdout and reader not in listed.stdout


async def test_revoke_is_seen_by_the_running_service(
    service: Service, database_url: str, tmp_path: Path
) -> None:
    made = await token_cli(
        database_url, tmp_path, "create", "--name", "leaked", "--scope", "read",
        "--scope", "admin",
    )  # fmt: skip
    assert made.code == 0, made.stderr
    token = made.stdout.strip()
    status, page = await service.request("GET", "/tokens", headers=bearer(token))
    assert status == 200, page
    ident = next(t["id"] for t in page["items"] if t["name"] == "leaked")
    assert next(t["scopes"] for t in page["items"] if t["id"] == ident) == ["read", "admin"]

    revoked = await token_cli(database_url, tmp_path, "revoke", ident)
    assert revoked.code == 0, revoked.stderr
    assert ident in revoked.stderr

    async def refused() -> bool:
        status, _ = await service.request("GET", "/evaluations/runs", headers=bearer(token))
        return status == 401

    await wait_for(refused, interval=0.1)
    listed = await token_cli(database_url, tmp_path, "list")
    row = next(r for r in table(listed.stdout) if r[0] == ident)
    assert row[5] != "-"  # the revocation time

    again = await token_cli(database_url, tmp_path, "revoke", ident)
    assert again.code == 0, again.stderr
    for unknown in ["00000000-0000-0000-0000-000000000000", "nope"]:
        missing = await token_cli(database_url, tmp_path, "revoke", unknown)
        assert missing.code == 1
        assert f"API token '{unknown}' not found" in missing.stderr


async def test_create_refuses_bad_options_and_stores_nothing(
    service: Service, database_url: str, db: asyncpg.Pool, tmp_path: Path
) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases = [
        (["--name", "x", "--expires-at", past], "--expires-at: Value error, expires_at must be"),
        (["--name", "x", "--expires-at", "2030-01-01T00:00:00"], "--expires-at:"),
        (["--name", "x", "--expires-in", "0"], "--expires-in takes 0 < DAYS"),
        (["--name", "x", "--expires-in", "nan"], "--expires-in takes 0 < DAYS"),
        (["--name", "   "], "--name:"),
        (["--name", "x", "--scope", "root"], "invalid choice: 'root'"),
        (["--name", "x", "--expires-in", "1", "--expires-at", past], "not allowed with"),
    ]
    for args, message in cases:
        result = await token_cli(database_url, tmp_path, "create", *args)
        assert result.code == 2, (args, result)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == "", args
    assert await db.fetchval("SELECT count(*) FROM api_tokens WHERE name IN ('x', '')") == 0
