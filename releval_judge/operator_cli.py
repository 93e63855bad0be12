"""The operator's commands on the host: ``releval-judge token create | list | revoke``
(stored API tokens) and ``releval-judge secrets rotate`` (RELEVAL_SECRET_KEY). They talk
to the database directly (RELEVAL_DATABASE_URL, or the embedded one in RELEVAL_DATA_DIR),
so they work before any admin token exists; the token API (``/api/v1/tokens``) does the
same for tokens over HTTP with an admin token. See docs/security.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import ValidationError

from releval_judge.access import SCOPES, ApiToken, TokenCreate
from releval_judge.config import Settings
from releval_judge.logs import configure_logging
from releval_judge.services.auth import RECHECK_S
from releval_judge.store.tokens import TokenStore

DEFAULT_SCOPE = "read"
EXIT_USAGE = 2


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secrets = subparsers.add_parser("secrets", help="manage RELEVAL_SECRET_KEY")
    secrets_commands = secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_commands.add_parser(
        "rotate",
        help="re-encrypt every stored provider key under the first key of RELEVAL_SECRET_KEY "
        "(a comma list: new first, then the old ones)",
    )
    token = subparsers.add_parser("token", help="manage API tokens (on the database directly)")
    commands = token.add_subparsers(dest="token_command", required=True)
    create = commands.add_parser("create", help="create a token (printed once)")
    create.add_argument("--name", required=True, help="recorded as who did what (1-200 chars)")
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help=f"read: every GET; write: read and every change; admin: write and tokens "
        f"(repeatable; default {DEFAULT_SCOPE})",
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=float, metavar="DAYS", help="expire after DAYS")
    expiry.add_argument(
        "--expires-at", metavar="ISO", help="expire at this time, e.g. 2027-01-31T18:00:00+00:00"
    )
    commands.add_parser("list", help="list tokens: id, name, scopes, created, expires, revoked")
    revoke = commands.add_parser(
        "revoke", help=f"revoke a token (refused by every replica within {RECHECK_S:g} s)"
    )
    revoke.add_argument("id", help="the token's id (see token list)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging("console", "warning")
    if args.command == "secrets":
        return asyncio.run(rotate_secrets(settings))
    if args.token_command == "create":
        request = _create_request(args)
        if request is None:
            return EXIT_USAGE
        return asyncio.run(_create(settings, request))
    if args.token_command == "list":
        return asyncio.run(_list(settings))
    return asyncio.run(_revoke(settings, args.id))


def _create_request(args: argparse.Namespace) -> TokenCreate | None:
    """The token API's own body, so the CLI validates exactly like ``POST /tokens``."""
    expires_at: str | datetime | None = args.expires_at
    if args.expires_in is not None:
        if not 0 < args.expires_in <= 100 * 365:
            _refuse("--expires-in takes 0 < DAYS <= 36500")
            return None
        expires_at = datetime.now(UTC) + timedelta(days=args.expires_in)
    try:
        return TokenCreate.model_validate(
            {"name": args.name, "scopes": args.scope or [DEFAULT_SCOPE], "expires_at": expires_at}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        option = {"name": "--name", "expires_at": "--expires-at"}.get(where, where)
        _refuse(f"{option}: {first['msg']}")
        return None


def _refuse(message: str) -> None:
    print(f"releval-judge token create: {message}", file=sys.stderr)


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    from releval_judge.store.database import EmbeddedPostgres, apply_schema, create_pool

    url = settings.database_url
    if url is None:
        url = await asyncio.to_thread(EmbeddedPostgres(settings.data_dir).start)
    pool = await create_pool(url, size=2)
    try:
        await apply_schema(pool)
        yield pool
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def _tokens(settings: Settings) -> AsyncIterator[TokenStore]:
    async with _database(settings) as pool:
        yield TokenStore(pool)


async def _create(settings: Settings, request: TokenCreate) -> int:
    from releval_judge.secrets import hash_token, new_token

    token = new_token()
    async with _tokens(settings) as tokens:
        stored = await tokens.create(
            request.name, hash_token(token), request.scopes, request.expires_at
        )
    print(token)
    expiry = f", expires {_when(stored.expires_at)}" if stored.expires_at else ""
    print(
        f"(token {stored.name!r} created, id {stored.id}, scopes {','.join(stored.scopes)}"
        f"{expiry}; it is shown only this once)",
        file=sys.stderr,
    )
    return 0


async def _list(settings: Settings) -> int:
    items: list[ApiToken] = []
    async with _tokens(settings) as tokens:
        cursor: str | None = None
        while True:
            page = await tokens.list(limit=1000, cursor=cursor)
            items.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    now = datetime.now(UTC)
    rows = [["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED"]]
    for t in items:
        expires = _when(t.expires_at)
        if t.expires_at is not None and t.expires_at <= now:
            expires += " (expired)"
        rows.append(
            [t.id, t.name, ",".join(t.scopes), _when(t.created_at), expires, _when(t.revoked_at)]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())
    return 0


async def _revoke(settings: Settings, token_id: str) -> int:
    from releval_judge.errors import NotFound

    async with _tokens(settings) as tokens:
        try:
            revoked = await tokens.revoke(token_id)
        except NotFound as exc:
            print(f"releval-judge token revoke: {exc.message}", file=sys.stderr)
            return 1
    print(
        f"token {revoked} revoked; every replica refuses it within {RECHECK_S:g} s", file=sys.stderr
    )
    return 0


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def rotate_secrets(settings: Settings) -> int:
    """`secrets rotate`: every stored provider key re-encrypted under the first key."""
    from releval_judge.secrets import SecretBox, local_secret_key
    from releval_judge.store.secrets import CanaryUnreadable, SecretStore

    keys = settings.secret_keys or [local_secret_key(settings.data_dir)]
    try:
        async with _database(settings) as pool:
            done = await SecretStore(pool).rotate(SecretBox(keys).rotate)
    except CanaryUnreadable:
        print(
            "releval-judge secrets rotate: none of the keys in RELEVAL_SECRET_KEY decrypts "
            "this database's canary: they are not its keys; nothing was changed",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(
        f"re-encrypted under the first of {len(keys)} key(s): {done.judges} judge key(s), "
        f"{done.run_snapshots} judging-run snapshot(s)" + (", the canary" if done.canary else "")
    )
    unreadable = len(done.unreadable_judges) + len(done.unreadable_runs)
    if unreadable:
        print(
            f"{unreadable} stored key(s) could not be read by any key given and were left as "
            f"they were (judges: {', '.join(done.unreadable_judges) or 'none'}; judging runs: "
            f"{len(done.unreadable_runs)}); set those judges' api_key again",
            file=sys.stderr,
        )
    if len(keys) > 1:
        print(
            "every replica may now be given only the first key (RELEVAL_SECRET_KEY)",
            file=sys.stderr,
        )
    return 0
