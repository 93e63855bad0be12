"""Prompt templates: compile a judge's Jinja2 template and render one batch into a prompt.

Templates run in the sandbox of ``releval_judge.sandbox`` (Jinja2's immutable sandbox with
limits on sizes) with autoescaping, so nothing a template author or a document writes can
reach Python internals, document text can never forge a ``<candidate>`` answer block, and
no single operation of a template can build a huge value. A rendered prompt is capped at
:attr:`TemplateLimits.max_prompt_bytes`, counted as it is produced. The time a render may
take is bounded by the thread it runs in (``engine/rendering.py``): everything here is
pure and synchronous, no I/O, no global state that changes after import (the sandbox's
per-render budget is thread-local and lives as long as one render).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import jinja2
from jinja2 import nodes
from markupsafe import Markup

from releval_judge.providers.base import Prompt
from releval_judge.sandbox import SandboxEnvironment
from releval_judge.scale import Scale
from releval_judge.sizes import Refused, budget, check_printed

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TEMPLATE",
    "JudgePrompt",
    "PromptCandidate",
    "TemplateError",
    "TemplateLimitError",
    "TemplateLimits",
    "compile_template",
    "default_template",
    "render_prompt",
    "stable_prefix",
    "template_line",
]


@dataclass(frozen=True, slots=True)
class PromptCandidate:
    """One candidate as a template sees it; ``id`` is its ordinal in the batch ("1", "2", …).

    A plain dataclass: made for every candidate sent, from values already typed."""

    id: str
    rank: int
    doc_id: str
    title: str | None = None
    text: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class TemplateError(ValueError):
    """A prompt template that cannot be compiled or rendered.

    ``message`` is Jinja2's explanation, ``line`` the 1-based template line when known;
    ``str()`` reads ``line 3: unexpected '}'``.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message if line is None else f"line {line}: {message}")


class TemplateLimitError(TemplateError):
    """A render over one of the limits on untrusted templates: its time, the size of the
    prompt, or an operation the sandbox refuses for its size (``**``, a huge ``range()``,
    a value larger than a prompt may be). The message names the limit and its setting.

    Unlike other template errors, which may depend on one document, these fail a judging
    run as a whole: every batch would meet the same limit.
    """


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """How long one render may take and how large a prompt may be (from the settings
    ``RELEVAL_TEMPLATE_TIMEOUT_S`` and ``RELEVAL_MAX_PROMPT_BYTES``)."""

    timeout_s: float = 2.0
    max_prompt_bytes: int = 1_000_000


DEFAULT_LIMITS = TemplateLimits()


def _escape_text(value: Any) -> Any:
    """Output hook: escape only ``& < >`` in plain strings and render ``None`` as nothing.

    Escaping ``<`` is what stops document text from forging answer blocks; leaving
    quotes alone keeps ``don't`` readable for the model and cheap in tokens, where
    Jinja2's own escaping would send ``don&#39;t``. The ``Markup`` result tells
    autoescaping that the value is already safe.
    """
    if value is None:
        return ""
    if type(value) is str:
        return Markup(value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    if isinstance(value, _PRINTED_CONTAINERS):
        # Printed as Python writes it, in one go: a list holding a long value many times
        # would be written out in full before the prompt cap could count it.
        check_printed(value)
    return value


class _Record(dict[Any, Any]):
    """Data the service hands to templates (a candidate, the scale): its keys read as
    attributes, ``{{ c.title }}``, like a plain dict's do in Jinja2.

    ``__slots__`` keeps the instances without attributes of their own, so a name that is
    not one of the type's (``items``, ``keys``, ``__class__``…) can only be a key.
    """

    __slots__ = ()


class _Lenient(_Record):
    """A record whose absent keys read as an empty string.

    Used for data that varies while the template stays the same: documents differ in
    which fields they carry and evaluation runs in which grades have labels, so
    ``{{ c.fields.brand }}`` or ``{{ scale.labels[4] }}`` must not fail for the one
    document or run without them (``'brand' in c.fields`` still tells).
    """

    __slots__ = ()

    def __missing__(self, key: Any) -> str:
        return ""


_RECORD_TYPES = (_Record, _Lenient)
_PRINTED_CONTAINERS = (list, tuple, dict, set, frozenset)
_TYPE_ATTRIBUTES = frozenset(dir(_Lenient))


class _Environment(SandboxEnvironment):
    """The sandbox, with a short way to a record's keys.

    The sandbox reads ``c.title`` by trying the attribute first, which for a dict raises
    (and catches) an AttributeError before reading the key: a fifth of the cost of
    rendering a batch. For the service's own records, a name that is not an attribute of
    their type can only be a key (see :class:`_Record`), so it is read as one directly;
    the result is the same as the sandbox's, and every other access (methods such as
    ``items``, any other object) still goes through the sandbox's checks.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in _RECORD_TYPES and attribute not in _TYPE_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


_ENV = _Environment(
    autoescape=True,
    # A misspelt variable fails loudly (at compile time, see compile_template) instead
    # of silently sending an empty string to the model for every candidate.
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    finalize=_escape_text,
)
# tojson renders structured field values; non-ASCII text as \uXXXX would cost tokens.
_ENV.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}


DEFAULT_TEMPLATE = """\
You are an expert search-relevance assessor. Judge how relevant each document below is \
to the search query, from the point of view of the user who typed it.

Query: {{ query }}

Grades are integers from {{ scale.min }} to {{ scale.max }}
{%- if scale.labels %}:
{% for grade, label in scale.labels.items() %}{{ grade }} = {{ label }}
{% endfor %}
{%- else %}, higher meaning more relevant.
{% endif %}
{% for c in candidates %}<document id="{{ c.id }}">
{% if c.title %}Title: {{ c.title }}
{% endif %}
{%- for name, value in c.fields.items() %}{{ name }}: \
{{ value if value is string else value|tojson }}
{% endfor %}
{%- if c.text %}{{ c.text }}
{% endif %}</document>
{% endfor %}
Answer with exactly one block per document ({{ candidates|length }} in all), in this \
format and nothing else (no JSON, no Markdown):
<candidate id="ID">
<grade>GRADE</grade>
<reasoning>One or two short sentences.</reasoning>
</candidate>
ID is the document's id; GRADE is an integer from {{ scale.min }} to {{ scale.max }}.
"""
"""The prompt used when a judge gives none.

Documents go in as ``<document id="N">`` and the format example uses placeholders, so
a model that echoes its prompt back produces no block that parses as a judgment.
"""


def compile_template(source: str, limits: TemplateLimits = DEFAULT_LIMITS) -> jinja2.Template:
    """Compile a judge's prompt template, or raise :class:`TemplateError` saying where.

    Besides syntax, this rejects what would fail on every batch: it renders the
    template against two sample batches (one with every optional value set, one with
    none), so an unknown variable or attribute, a sandbox violation or a limit met on
    the samples (:class:`TemplateLimitError`: ``{{ 9 ** 9 ** 9 }}``, a prompt over
    ``limits.max_prompt_bytes``) is reported when the judge is saved, not halfway
    through a run. The ``safe`` filter and ``{% autoescape false %}`` are rejected
    because they would let document text forge answer blocks. The time limit is the
    caller's to enforce (``engine/rendering.py`` compiles in a thread that it stops).
    """
    try:
        ast = _ENV.parse(source)
        _reject_unescaped_output(ast)
        template = _ENV.from_string(ast)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "invalid template", exc.lineno) from exc
    for sample in _SAMPLE_BATCHES:
        render_prompt(template, **sample, limits=limits)
    return template


@functools.cache
def default_template() -> jinja2.Template:
    """The compiled :data:`DEFAULT_TEMPLATE` (compiled once per process)."""
    return compile_template(DEFAULT_TEMPLATE)


def render_prompt(
    template: jinja2.Template,
    *,
    query: str,
    candidates: Sequence[PromptCandidate],
    scale: Scale,
    limits: TemplateLimits = DEFAULT_LIMITS,
) -> str:
    """Render one batch into the prompt text sent to the model.

    The template sees ``query``, ``candidates`` (dicts with ``id``, ``rank``,
    ``doc_id``, ``title``, ``text``, ``fields``) and ``scale`` (``min``, ``max``,
    ``labels`` as ``{grade: label}`` in grade order). Every value printed is escaped
    (``<`` becomes ``&lt;``); ``None`` prints as nothing; an absent field or label
    reads as an empty string, any other unknown name is an error. Any failure inside
    the template, sandbox violations included, raises :class:`TemplateError`; a limit
    met (the prompt's size, counted in UTF-8 bytes as the template produces it, or an
    operation the sandbox refuses) raises :class:`TemplateLimitError`.
    """
    context = {
        "query": query,
        "candidates": [
            _Record(
                id=c.id,
                rank=c.rank,
                doc_id=c.doc_id,
                title=c.title,
                text=c.text,
                fields=_Lenient(c.fields),
            )
            for c in candidates
        ],
        "scale": _Record(
            min=scale.min,
            max=scale.max,
            labels=_Lenient(sorted(scale.labels.items())),
        ),
    }
    # A generator (closed below, so that a render stopped at the cap ends at once).
    chunks = cast("Generator[str, None, None]", template.generate(context))
    try:
        with budget(limits.max_prompt_bytes):
            parts = _collect(chunks, limits.max_prompt_bytes)
    except TemplateError:
        raise
    except Refused as exc:
        raise TemplateLimitError(str(exc), template_line(exc)) from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(exc.message or type(exc).__name__, template_line(exc)) from exc
    except Exception as exc:
        # Errors raised by Python objects inside the template (a division by zero, an
        # include without a loader) are still the template's fault, not the service's.
        raise TemplateError(str(exc) or type(exc).__name__, template_line(exc)) from exc
    finally:
        chunks.close()
    return "".join(parts)


def _collect(chunks: Iterator[str], cap: int) -> list[str]:
    """The pieces of a render's output (each text or value printed), stopped as soon as
    together they exceed ``cap`` bytes in UTF-8: a runaway loop ends at the cap, not at
    its end.

    A character takes 1 to 4 bytes: up to ``cap // 4`` characters, which is where any
    ordinary prompt ends, counting characters is enough; past that, bytes are counted."""
    parts: list[str] = []
    append = parts.append
    characters = 0
    surely_under = cap // 4
    for chunk in chunks:
        append(chunk)
        characters += len(chunk)
        if characters > surely_under:
            break
    else:
        return parts
    size = sum(_utf8_size(part) for part in parts)
    if size <= cap:
        for chunk in chunks:
            size += _utf8_size(chunk)
            if size > cap:
                break
            append(chunk)
        else:
            return parts
    raise TemplateLimitError(
        f"the prompt template rendered more than {cap} bytes for one prompt "
        "(RELEVAL_MAX_PROMPT_BYTES)"
    )


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode(errors="surrogatepass"))


def stable_prefix(source: str) -> str:
    """The template's text before its first variable, tag or comment: what every prompt
    rendered from it starts with. Sent first (and, for Anthropic, as a cached block), so
    that the provider's prompt cache can serve it. Empty when the template starts with a
    variable, or does not compile."""
    try:
        ast = _ENV.parse(source)
    except jinja2.TemplateSyntaxError:
        return ""
    prefix: list[str] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            break
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                return "".join(prefix)
            prefix.append(child.data)
    return "".join(prefix)


class JudgePrompt:
    """A judge's template, compiled once, rendering each batch into a :class:`Prompt` that
    knows its stable prefix, within ``limits``. ``source`` None: the default template.

    Synchronous: build and render it in the thread of ``engine/rendering.py``, which
    enforces ``limits.timeout_s``. Once a render met a limit (:meth:`over_limit`), every
    later one fails alike without rendering: the batches of a run still waiting to be
    rendered must not each spend the time limit again."""

    def __init__(self, source: str | None, limits: TemplateLimits = DEFAULT_LIMITS) -> None:
        self.template = compile_template(source, limits) if source else default_template()
        self.prefix = stable_prefix(source or DEFAULT_TEMPLATE)
        self.limits = limits
        self._limit_met: TemplateLimitError | None = None

    def over_limit(self, error: TemplateLimitError) -> None:
        """Fail every later render with ``error`` (a limit one render met)."""
        self._limit_met = error

    def render(
        self,
        *,
        query: str,
        candidates: Sequence[PromptCandidate],
        scale: Scale,
    ) -> Prompt:
        if self._limit_met is not None:
            raise TemplateLimitError(self._limit_met.message, self._limit_met.line)
        text = render_prompt(
            self.template, query=query, candidates=candidates, scale=scale, limits=self.limits
        )
        # Always true for a prefix of literal text; checked so that a surprise in Jinja2's
        # whitespace handling can never mark text that differs between prompts as stable.
        prefix = len(self.prefix) if text.startswith(self.prefix) else 0
        return Prompt(text=text, stable_prefix_chars=prefix)


def _reject_unescaped_output(ast: nodes.Template) -> None:
    for node in ast.find_all((nodes.Filter, nodes.EvalContextModifier)):
        if isinstance(node, nodes.Filter) and node.name == "safe":
            raise TemplateError(
                "the 'safe' filter is not allowed: document text must stay escaped "
                "so that it cannot forge answer blocks",
                node.lineno,
            )
        if isinstance(node, nodes.EvalContextModifier) and any(
            option.key == "autoescape"
            and not (isinstance(option.value, nodes.Const) and option.value.value is True)
            for option in node.options
        ):
            raise TemplateError(
                "turning autoescape off is not allowed: document text must stay escaped "
                "so that it cannot forge answer blocks",
                node.lineno,
            )


def template_line(exc: BaseException) -> int | None:
    """The innermost template line in ``exc``'s traceback: Jinja2 rewrites the frames of
    the exceptions it handles to template lines; the frames of others (a render stopped
    for its time) are the compiled template's, mapped back here."""
    line = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            compiled = tb.tb_frame.f_globals.get("__jinja_template__")
            if isinstance(compiled, jinja2.Template):
                line = compiled.get_corresponding_lineno(tb.tb_lineno)
            else:
                line = tb.tb_lineno
        tb = tb.tb_next
    return line


_SAMPLE_BATCHES: tuple[dict[str, Any], ...] = (
    {
        "query": "wireless headphones",
        "candidates": (
            PromptCandidate(
                id="1",
                rank=1,
                doc_id="sample-1",
                title="Acme wireless headphones",
                text="Over-ear Bluetooth headphones with 30 hours of battery.",
                fields={"brand": "Acme", "price": 59.9, "tags": ["audio", "bluetooth"]},
            ),
            PromptCandidate(id="2", rank=2, doc_id="sample-2", title="USB cable", text="1 m."),
        ),
        "scale": Scale(min=0, max=3, labels={0: "bad", 1: "fair", 2: "good", 3: "perfect"}),
    },
    {
        "query": "q",
        "candidates": (PromptCandidate(id="1", rank=1, doc_id="sample-1"),),
        "scale": Scale(min=0, max=1),
    },
)
