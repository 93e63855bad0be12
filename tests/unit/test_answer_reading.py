"""Batch result files read line by line within a cap, however the network splits them."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.base_protocol import BaseProtocol
from hypothesis import given, settings
from hypothesis import strategies as st

from releval_judge.providers.batches.base import oversized_result
from releval_judge.providers.reading import HEAD_BYTES, OversizedLine, capped_lines

LIMIT = 40


async def _read(chunks: list[bytes], limit: int) -> list[bytes | OversizedLine]:
    loop = asyncio.get_running_loop()
    reader = aiohttp.StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return [line async for line in capped_lines(reader, limit)]


def _expected(lines: list[bytes], limit: int) -> list[bytes | OversizedLine]:
    out: list[bytes | OversizedLine] = []
    for line in lines:
        if len(line) > limit:
            out.append(OversizedLine(line[:HEAD_BYTES], len(line)))
        elif line.strip():
            out.append(line)
    return out


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=LIMIT).map(lambda b: b.replace(b"\n", b"x")),
            st.integers(LIMIT + 1, 3 * LIMIT).map(lambda n: b"y" * n),
            st.just(b""),
            st.just(b"   "),
        ),
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
    final_newline=st.booleans(),
)
def test_lines_come_whole_or_as_oversized_whatever_the_chunks(
    lines: list[bytes], cuts: list[int], final_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    got = asyncio.run(_read(_split(data, cuts), LIMIT))
    assert got == _expected(lines, LIMIT)


async def test_a_line_exactly_at_the_cap_is_kept_and_one_byte_more_is_not() -> None:
    got = await _read([b"a" * LIMIT + b"\n" + b"b" * (LIMIT + 1) + b"\nlast"], LIMIT)
    assert got == [b"a" * LIMIT, OversizedLine(b"b" * (LIMIT + 1), LIMIT + 1), b"last"]


async def test_an_oversized_line_keeps_only_its_head() -> None:
    big = b"z" * (3 * HEAD_BYTES)
    [line] = await _read([big[:10], big[10:]], HEAD_BYTES)
    assert line == OversizedLine(big[:HEAD_BYTES], len(big))


def test_an_oversized_result_fails_the_request_it_names_with_the_cap() -> None:
    head = b'{"id":"batch_req_1","custom_id":"abc123-4","response":{"status_code":200,"body":'
    result = oversized_result(OversizedLine(head, 99_999_999), 16 * 1024 * 1024)
    assert result is not None
    assert (result.custom_id, result.kind) == ("abc123-4", "errored")
    assert result.error is not None and not result.error.is_fatal_for_run
    assert result.error.message == (
        "the provider's result for this request (99999999 bytes) is larger than 16777216 "
        "bytes, the cap set by RELEVAL_MAX_ANSWER_BYTES; it was not read"
    )
    assert oversized_result(OversizedLine(b'{"result":{"type":"succ', 10**8), 1024) is None
