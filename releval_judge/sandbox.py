"""The sandbox that judges' prompt templates run in: Jinja2's immutable sandbox, with sizes.

Jinja2's sandbox guards data: no attribute starting with ``_``, no change to a list or dict,
no unsafe callable. It does not bound sizes, and a single Python operation that builds a
huge value cannot be interrupted (a thread runs C code to its end): ``{{ 9 ** 9 ** 9 }}``,
``'x' * 10**9``, ``query.ljust(10**9)`` or ``range(10**9)|list`` each allocate gigabytes or
compute for minutes. This environment refuses them *before* they are computed, and bounds
what a template may build in all, so that memory stays bounded however the operations are
chained (a namespace doubling a string in a loop, a chain of ``{% set %}``):

- ``**`` always;
- ``range()`` of more than :data:`MAX_ITEMS` numbers, ``batch``/``slice`` into more;
- a product of integers of more than :data:`MAX_INT_BITS` bits;
- any value longer than the prompt cap (``RELEVAL_MAX_PROMPT_BYTES``): checked before
  ``*`` repeats a string or list, before ``+`` and ``~`` join, before the padding and
  replacing methods and filters (``center``, ``ljust``, ``rjust``, ``zfill``,
  ``expandtabs``, ``replace``, ``translate``, ``join``, ``indent``, ``wordwrap``,
  ``truncate``, widths in ``%`` and ``format``), and after every other filter and call;
- more than :data:`WORK_FACTOR` times the prompt cap built in all during one render
  (every new string or list a filter, call or operator makes is charged).

A refusal raises :class:`Refused` with a message naming the limit (``prompt.py`` makes it
a ``TemplateLimitError``). The time a render takes is bounded elsewhere
(``engine/rendering.py``): loops make no large values, only many small steps.

How sizes are counted, and the budget of the render in progress: ``releval_judge.sizes``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS
from jinja2.nodes import Concat
from jinja2.runtime import Context, Macro
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from markupsafe import Markup

from releval_judge.sizes import (
    CONTAINERS,
    PLAIN,
    TEXT,
    Refused,
    bounded_items,
    charge,
    count_of,
    current_budget,
    size_of,
)

__all__ = ["MAX_INT_BITS", "MAX_ITEMS", "MAX_JSON_INDENT", "SandboxEnvironment"]

MAX_ITEMS: Final = 10_000
"""The most numbers a ``range()`` may hold, and lists ``batch``/``slice`` may make."""

MAX_INT_BITS: Final = 10_000
"""The largest product of integers (about 3,000 digits); ``**`` is refused outright."""

MAX_JSON_INDENT: Final = 16


# --- operators -------------------------------------------------------------------------


def _power(left: Any, right: Any) -> Any:
    raise Refused(
        "the ** operator is not allowed in a prompt template (one ** can compute a number "
        "too large to print)"
    )


def _multiply(left: Any, right: Any) -> Any:
    current = current_budget()
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise Refused(f"a product of more than {MAX_INT_BITS} bits is not allowed")
        return left * right
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, (*TEXT, list, tuple)) and isinstance(times, int):
            size = size_of(sequence, current.max_value) * times
            current.check(size, f"repeating a value {times} times with *")
    result = left * right
    current.charge(result)
    return result


def _add(left: Any, right: Any) -> Any:
    if type(left) in PLAIN and type(right) in PLAIN:
        return left + right
    current = current_budget()
    if isinstance(left, (*TEXT, *CONTAINERS)):
        limit = current.max_value
        current.check(size_of(left, limit) + size_of(right, limit), "adding with +")
    result = left + right
    current.charge(result)
    return result


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent(template: Any, arguments: Any, what: str) -> None:
    """Widths and precisions of a ``%`` format, written or given by ``*``."""
    if not isinstance(template, str):
        return
    current = current_budget()
    star = False
    for width, precision in _PERCENT_FIELD.findall(template):
        for number in (width, precision):
            if number == "*":
                star = True
            elif number and (len(number) > 9 or int(number) > current.max_value):
                raise current.too_large(f"a width of {number} in {what}")
    if star:
        values = arguments if isinstance(arguments, tuple) else (arguments,)
        for value in values:
            current.check(abs(count_of(value)), f"a '*' width in {what}")


def _modulo(left: Any, right: Any) -> Any:
    if type(left) in PLAIN and type(right) in PLAIN:
        return left % right
    _check_percent(left, right, "%")
    result = left % right
    current_budget().charge(result)
    return result


# --- filters and methods that take a size ----------------------------------------------

# Filters that return a value they were given (or part of it), a number, or a lazy
# iterator: nothing new of any size, so nothing to count.
_UNCOUNTED_FILTERS: Final = frozenset(
    {
        *("abs", "attr", "count", "d", "default", "dictsort", "first", "float", "groupby"),
        *("int", "items", "last", "length", "list", "map", "max", "min", "random"),
        *("reject", "rejectattr", "round", "select", "selectattr", "sort", "unique"),
        "wordcount",
    }
)

Check = Callable[[Any, tuple[Any, ...], dict[str, Any], str], None]
"""A check of a filter's or method's arguments: (value, arguments after it, keyword
arguments, name); raises Refused."""


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], at: int, name: str, default: Any) -> Any:
    return args[at] if len(args) > at else kwargs.get(name, default)


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, TEXT) else 0


def _check_width(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    """center, ljust, rjust, zfill, truncate, wordwrap: a width (or length) first."""
    width = count_of(_arg(args, kwargs, 0, "length" if name == "truncate" else "width", 0))
    current = current_budget()
    current.check(width, name)
    if name == "wordwrap":  # the wrapping string goes between every two lines
        wrap = _arg(args, kwargs, 2, "wrapstring", None)
        size = _text_size(value)
        current.check(size + (size // max(width, 1) + 1) * _text_size(wrap), name)


def _check_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    width = _arg(args, kwargs, 0, "width", 4)
    pad = len(width) if isinstance(width, str) else count_of(width)
    lines = value.count("\n") + 1 if isinstance(value, str) else 1
    current_budget().check(_text_size(value) + pad * lines, name)


def _check_replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    old = _arg(args, kwargs, 0, "old", None)
    new = _arg(args, kwargs, 1, "new", None)
    count = _arg(args, kwargs, 2, "count", None)
    if not isinstance(value, TEXT) or not isinstance(old, TEXT) or not isinstance(new, TEXT):
        return
    if len(new) > len(old):
        found = value.count(old)  # type: ignore[arg-type]
        if count is not None and count_of(count) >= 0:
            found = min(found, count_of(count))
        current_budget().check(len(value) + found * (len(new) - len(old)), name)


def _check_expandtabs(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    tabs = value.count("\t" if isinstance(value, str) else b"\t")
    current_budget().check(len(value) + tabs * count_of(_arg(args, kwargs, 0, "tabsize", 8)), name)


def _check_translate(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    table = _arg(args, kwargs, 0, "table", None)
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, TEXT)), default=1)
        current_budget().check(len(value) * max(longest, 1), name)


def _check_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    _check_percent(value, args or kwargs, name)


def _check_count(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    """batch, slice: how many items (lists) to make, filled up to that many."""
    if count_of(_arg(args, kwargs, 0, "linecount" if name == "batch" else "slices", 0)) > MAX_ITEMS:
        raise Refused(f"{name}() into more than {MAX_ITEMS} items is not allowed")


_FILTER_CHECKS: Final[dict[str, Check]] = {
    "batch": _check_count,
    "center": _check_width,
    "format": _check_format,
    "indent": _check_indent,
    "replace": _check_replace,
    "slice": _check_count,
    "truncate": _check_width,
    "wordwrap": _check_width,
}

_METHOD_CHECKS: Final[dict[str, Check]] = {
    "center": _check_width,
    "ljust": _check_width,
    "rjust": _check_width,
    "zfill": _check_width,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "translate": _check_translate,
}


def _tojson(function: Callable[..., Any]) -> Callable[..., Any]:
    """``tojson``, which the default template calls for every field that is not a string:
    kept to a short wrapper of its own."""

    @functools.wraps(function)
    def tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
        if indent is not None and count_of(indent) > MAX_JSON_INDENT:
            raise Refused(f"tojson with an indent of more than {MAX_JSON_INDENT} is not allowed")
        result = function(eval_ctx, value, indent)
        charge(result)
        return result

    return tojson


def _filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja2's filter ``name``, its arguments checked first (:data:`_FILTER_CHECKS`) and
    its result counted, unless it makes nothing new (:data:`_UNCOUNTED_FILTERS`)."""
    if name in _UNCOUNTED_FILTERS:
        return function
    if name == "tojson":
        return _tojson(function)
    # Jinja2 passes its context, eval context or environment first to filters that ask.
    value_at = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0
    check = _FILTER_CHECKS.get(name)

    @functools.wraps(function)
    def counted(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        charge(result)
        return result

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if name == "join":  # the items may come from a lazy map: bound them as they come
            separator = _text_size(_arg(args, kwargs, value_at + 1, "d", ""))
            items = bounded_items(args[value_at], separator, name)
            args = (*args[:value_at], items, *args[value_at + 1 :])
        elif check is not None:
            check(args[value_at], args[value_at + 1 :], kwargs, name)
        result = function(*args, **kwargs)
        charge(result)
        return result

    return checked if check is not None or name == "join" else counted


class _SpecChecks:
    """Widths and precisions in ``str.format`` fields (``{:999999999}``)."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        current = current_budget()
        for number in re.findall(r"\d+", format_spec):
            if len(number) > 9 or int(number) > current.max_value:
                raise current.too_large(f"a width of {number} in format")
        return super().format_field(value, format_spec)  # type: ignore[misc]


class _Formatter(_SpecChecks, SandboxedFormatter):
    pass


class _EscapeFormatter(_SpecChecks, SandboxedEscapeFormatter):
    pass


# --- the code generator: ``~`` ---------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Jinja2's code generator, with ``a ~ b`` joined by the environment (which checks the
    size first) instead of by Jinja2's runtime directly."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.join_checked({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


# --- the environment -------------------------------------------------------------------


def _range(*args: Any) -> range:
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = MAX_ITEMS + 1
    if size > MAX_ITEMS:
        raise Refused(f"range() of more than {MAX_ITEMS} numbers is not allowed")
    return numbers


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the size limits of this module (see its docstring).

    ``lipsum`` (placeholder text) is not offered: a prompt has no use for it, and its size
    arguments would need limits of their own.
    """

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.binop_table = {
            **self.binop_table,
            "**": _power,
            "*": _multiply,
            "+": _add,
            "%": _modulo,
        }
        self.globals["range"] = _range
        del self.globals["lipsum"]
        self.filters = {name: _filter(name, f) for name, f in FILTERS.items()}

    def join_checked(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ …``: refused when the parts together exceed the cap."""
        current = current_budget()
        limit = current.max_value
        current.check(sum(size_of(part, limit) for part in parts), "joining with ~")
        result = join(parts)
        current.charge(result)
        return result

    def concat(self, parts: Iterable[str]) -> str:
        """The text a macro, a ``{% set %}`` block or a ``{% filter %}`` block made."""
        items = bounded_items(parts, 0, "the text of a macro or block")
        result = "".join(items)
        current_budget().charge(result)
        return result

    def call(
        __self,  # Jinja2's own spelling, so that any keyword argument passes through
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, TEXT):
            name = getattr(__obj, "__name__", "")
            check = _METHOD_CHECKS.get(name)
            if check is not None:
                check(owner, args, kwargs, name)
            elif name == "join" and args:
                args = (bounded_items(args[0], len(owner), name), *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        if not isinstance(__obj, Macro):  # a macro's text was counted by concat
            charge(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` with widths checked (Jinja2's own, with the
        formatters of this module)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        f_self: str = value.__self__
        formatter: SandboxedFormatter
        if isinstance(f_self, Markup):
            formatter = _EscapeFormatter(self, escape=f_self.escape)
        else:
            formatter = _Formatter(self)
        is_format_map = value.__name__ == "format_map"
        str_type = type(f_self)

        def format_checked(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    return wrapped(*args, **kwargs)  # Jinja2 raises its TypeError
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(format_checked, value)
