"""Prompt templates that try to leave Jinja2's sandbox are refused when a judge is saved.

A judge's template is user code run inside the service; these are the classic ways out
of a Jinja2 template (Python object graph, globals of the built-in helpers, the
template's own context, names the service never passes, huge ranges). Each is a
``TemplateError`` from ``compile_template`` and a 422 from the API, on create and on
patch, and nothing is stored.
"""

from __future__ import annotations

import pytest

from releval_judge.prompt import TemplateError, compile_template
from tests.support.api import assert_error
from tests.support.service import Service

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ request }}",
    "{{ config.items() }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% for c in ().__class__.__base__.__subclasses__() %}",
    "{{ query.__class__.__base__.__subclasses__() }}",
    "{{ '{0.__class__.__mro__}'.format(query) }}",
    "{{ '{x.__class__.__base__}'.format_map({'x': query}) }}",
    "{{ candidates.__getitem__(0).__class__ }}",
    "{{ candidates.append(1) }}",
    "{{ scale.labels.clear() }}",
    "{{ scale.labels.__missing__ }}",
    "{{ range(10 ** 10)|list }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{% extends '/etc/passwd' %}",
    "{{ c.text|safe }}",
    "{% autoescape false %}{{ query }}{% endautoescape %}",
]


def _template(payload: str) -> str:
    """The payload inside an otherwise ordinary template."""
    return f"Judge each document for {{{{ query }}}}.\n{payload}\nAnswer in blocks.\n"


@pytest.mark.parametrize("payload", ESCAPES)
def test_compile_template_refuses_sandbox_escapes(payload: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(_template(payload))

    assert caught.value.message
    # The message names what went wrong, not Python's internals.
    assert "object at 0x" not in str(caught.value)
    assert "/bin" not in str(caught.value)


async def test_the_api_refuses_them_on_create_and_on_patch(service: Service) -> None:
    judge = {"name": "hostile", "provider": "openai", "model": "m", "api_key": "sk-x"}
    status, ordinary = await service.request(
        "POST", "/ai-judges", json={**judge, "name": "ordinary", "prompt_template": "{{ query }}"}
    )
    assert status == 201, ordinary

    for payload in ESCAPES:
        template = _template(payload)
        status, body = await service.request(
            "POST", "/ai-judges", json={**judge, "prompt_template": template}
        )
        error = assert_error(status, body, 422, "validation_error")
        assert error["details"][0]["loc"] == ["body", "prompt_template"], (payload, error)

        status, body = await service.request(
            "PATCH", f"/ai-judges/{ordinary['id']}", json={"prompt_template": template}
        )
        assert_error(status, body, 422, "validation_error")

    status, page = await service.request("GET", "/ai-judges", params={"limit": "1000"})
    assert status == 200, page
    assert "hostile" not in {item["name"] for item in page["items"]}
    status, unchanged = await service.request("GET", f"/ai-judges/{ordinary['id']}")
    assert status == 200 and unchanged["prompt_template"] == "{{ query }}", unchanged
