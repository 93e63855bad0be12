"""How large the values a prompt template builds are, and what one render may still build.

The sandbox (``releval_judge.sandbox``) asks this module before and after each operation
that can make a large value. The limits of the render in progress are a thread-local
:class:`Budget`, set by ``prompt.render_prompt`` for the length of one render: Jinja2's
filters and its ``concat`` are not given the render's context, and a render runs in one
thread from its start to its end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from markupsafe import Markup

__all__ = [
    "CONTAINERS",
    "DEFAULT_MAX_VALUE",
    "PLAIN",
    "TEXT",
    "WORK_FACTOR",
    "Budget",
    "Refused",
    "bounded_items",
    "budget",
    "charge",
    "check_printed",
    "count_of",
    "current_budget",
    "size_of",
]

WORK_FACTOR: Final = 10
"""A render may build this many times the prompt cap in all (intermediate values)."""

DEFAULT_MAX_VALUE: Final = 1_000_000
"""The prompt cap when no render is in progress (a template rendered outside
``prompt.render_prompt``, or a constant folded at compile time)."""

_SETTING: Final = "RELEVAL_MAX_PROMPT_BYTES"


class Refused(Exception):
    """An operation of a template over one of the sandbox's limits."""


class Budget:
    """The limits of the render in progress: characters a value may hold (the prompt cap)
    and characters still to build."""

    __slots__ = ("left", "max_value", "work")

    def __init__(self, max_value: int) -> None:
        self.max_value = max_value
        self.work = WORK_FACTOR * max_value
        self.left = self.work

    def check(self, size: int, what: str) -> None:
        """Refuse making a value of ``size`` characters (``what`` says which operation)."""
        if size > self.max_value:
            raise self.too_large(what)

    def too_large(self, what: str) -> Refused:
        return Refused(
            f"{what} would make a value of more than {self.max_value} characters, larger "
            f"than a prompt may be ({_SETTING})"
        )

    def charge(self, value: Any) -> None:
        """Count a value the template has just built."""
        kind = type(value)
        if kind is str or kind is Markup:  # the most common by far: kept short
            size = len(value)
        elif kind in PLAIN:
            return
        else:
            size = size_of(value, self.max_value)
        if size > self.max_value:
            raise Refused(
                f"the template built a value of more than {self.max_value} characters, "
                f"larger than a prompt may be ({_SETTING})"
            )
        self.left -= size
        if self.left < 0:
            raise Refused(
                f"the template built more than {self.work} characters of values for one "
                f"prompt ({WORK_FACTOR} × {_SETTING})"
            )


class _Current(threading.local):
    budget: Budget | None = None


_CURRENT = _Current()


@contextmanager
def budget(max_value: int) -> Iterator[Budget]:
    """The limits of one render, in force in this thread until the block ends."""
    previous = _CURRENT.budget
    _CURRENT.budget = current = Budget(max_value)
    try:
        yield current
    finally:
        _CURRENT.budget = previous


def current_budget() -> Budget:
    return _CURRENT.budget or Budget(DEFAULT_MAX_VALUE)


def charge(value: Any) -> None:
    """Count ``value``, just built by the template, against the render in progress."""
    if type(value) in _NOTHING_BUILT:  # called after every filter and call: kept short
        return
    (_CURRENT.budget or Budget(DEFAULT_MAX_VALUE)).charge(value)


PLAIN: Final = frozenset({int, float, bool, type(None)})
_NOTHING_BUILT: Final = PLAIN | {type({}.items()), type({}.keys()), type({}.values()), range}
TEXT: Final = (str, bytes)
CONTAINERS: Final = (list, tuple, dict, set, frozenset)


def size_of(value: Any, limit: int) -> int:
    """The characters ``value`` holds, counted up to just past ``limit``: a string's length;
    a list's, tuple's, set's or dict's items (and keys) summed through, each counting one at
    least; anything else (numbers, iterators, ranges, records' views) nothing."""
    kind = type(value)
    if kind is str or kind is Markup or kind is bytes:
        return len(value)
    if kind in PLAIN or not isinstance(value, CONTAINERS):
        return 0
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, TEXT):
            total += len(item)
        elif isinstance(item, CONTAINERS):
            total += len(item)
            if total > limit:
                return total
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        if total > limit:
            return total
    return total


def check_printed(value: Any) -> None:
    """Refuse printing a list or dict that would write more than a prompt may hold (Python
    writes it out in one go, before the prompt's size can be counted)."""
    current = current_budget()
    current.check(size_of(value, current.max_value), "printing this value")


def count_of(value: Any) -> int:
    """An integer argument that sizes a result; anything else counts as zero (the call
    then fails or does nothing of size)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value


def bounded_items(value: Iterable[Any], separator: int, what: str) -> list[Any]:
    """``value``'s items, refused once together they would make a value over the cap."""
    current = current_budget()
    limit = current.max_value
    total = 0
    items = []
    for item in value:
        total += size_of(item, limit) + separator
        current.check(total, what)
        items.append(item)
    return items
