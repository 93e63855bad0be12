"""Opaque pagination cursors: the last row's sort key, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from releval_judge.errors import ValidationFailed


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, length: int) -> list[Any]:
    """The key values of a cursor; a cursor that was not made by us is a 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("invalid cursor", details=[{"loc": ["query", "cursor"]}]) from exc
    if not isinstance(values, list) or len(values) != length:
        raise ValidationFailed("invalid cursor", details=[{"loc": ["query", "cursor"]}])
    return values
