"""Named SQL blocks from ``store/*.sql``: ``-- name --``, a one-line purpose, the statement."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^-- ([a-z_]+) --$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split a file of named blocks into ``{name: sql}``; each block needs a purpose line."""
    queries: dict[str, str] = {}
    parts = _HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip().splitlines()
        if not lines or not lines[0].startswith("-- "):
            raise ValueError(f"query {name!r} has no purpose line")
        if name in queries:
            raise ValueError(f"query {name!r} defined twice")
        queries[name] = "\n".join(lines[1:]).strip().rstrip(";")
    return queries


@cache
def queries() -> dict[str, str]:
    """Every named block of every ``.sql`` file in ``store/`` (one file per concern)."""
    merged: dict[str, str] = {}
    files = sorted(
        (f for f in resources.files("releval_judge.store").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    for file in files:
        for name, sql in parse_queries(file.read_text("utf-8")).items():
            if name in merged:
                raise ValueError(f"query {name!r} defined twice ({file.name})")
            merged[name] = sql
    return merged


def fill(sql: str, **parts: str) -> str:
    """``sql`` with every ``{name}`` in it replaced by ``parts[name]``: SQL text the code
    makes (a list of columns, a part several statements share), never a value (values are
    parameters). A part that ``sql`` does not name is an error."""
    for name, text in parts.items():
        placeholder = "{" + name + "}"
        if placeholder not in sql:
            raise ValueError(f"no {placeholder} in the query")
        sql = sql.replace(placeholder, text)
    return sql
