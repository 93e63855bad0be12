"""A judge's base_url that is wrong says so: a URL without its path (`/v1`), a port where
nothing listens, a string that is not an http(s) URL (issue #24). Real service, real
PostgreSQL, the provider simulator over real HTTP on loopback."""

from __future__ import annotations

from typing import Any

from releval_judge.sim import SimConfig
from tests.support.api import (
    assert_error,
    create_evaluation,
    create_judge,
    start_run,
    wait_until_ended,
)
from tests.support.servers import LocalServers
from tests.support.service import ServiceFactory, free_port

SAMPLE = {"query": "solar panels", "candidates": [{"doc_id": "d1", "text": "Solar power"}]}


async def judge_test(service: Any, judge_id: str) -> tuple[int, Any]:
    status, body = await service.request("POST", f"/ai-judges/{judge_id}/test", json=SAMPLE)
    return int(status), body


async def test_a_base_url_without_v1_names_the_url_and_the_missing_path(
    services: ServiceFactory, local_servers: LocalServers
) -> None:
    port = await local_servers.sim(SimConfig(latency_ms=0))
    service = await services.start()
    judge = await create_judge(service, f"http://127.0.0.1:{port}", model="gpt-4o-mini")

    status, body = await judge_test(service, judge["id"])
    error = assert_error(status, body, 502, "provider_error")
    url = f"http://127.0.0.1:{port}/chat/completions"
    assert error["message"].startswith(f"no API at {url}: it answered HTTP 404"), error
    assert "base_url likely lacks its path" in error["message"]
    assert "/v1" in error["message"] and "model" not in error["message"].split(";")[0]

    evaluation = await create_evaluation(service)
    run = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"]))["id"]
    )
    assert run["status"] == "failed"
    assert run["error"] == error["message"]


async def test_a_missing_model_is_still_named_as_the_model(
    services: ServiceFactory, local_servers: LocalServers
) -> None:
    port = await local_servers.sim(SimConfig(latency_ms=0))
    service = await services.start()
    judge = await create_judge(service, f"http://127.0.0.1:{port}/v1", model="missing-model")

    status, body = await judge_test(service, judge["id"])
    error = assert_error(status, body, 502, "provider_error")
    assert error["message"].startswith("model 'missing-model' not found (HTTP 404)"), error


async def test_a_port_where_nothing_listens_says_check_base_url(
    services: ServiceFactory,
) -> None:
    port = free_port()  # bound and closed again: nothing listens there
    service = await services.start(outage_batches=1)
    judge = await create_judge(service, f"http://127.0.0.1:{port}/v1", max_retries=0)
    expected = (
        f"could not connect to 127.0.0.1:{port}: check base_url and that the provider is running"
    )

    status, body = await judge_test(service, judge["id"])
    assert status == 200, body
    assert all(expected in item["failure"] for item in body["results"]), body

    evaluation = await create_evaluation(service)
    run = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"]))["id"]
    )
    assert run["status"] == "failed"
    assert run["error"].startswith("provider outage: ") and expected in run["error"], run


async def test_a_base_url_that_is_not_an_http_url_is_a_422_in_words(
    services: ServiceFactory,
) -> None:
    service = await services.start()
    base = {"name": "j", "provider": "openai", "model": "m", "api_key": "k"}
    cases = {
        "localhost:8000/v1": " (did you mean http://localhost:8000/v1?)",
        "ftp://example.com/v1": "",
        "http://example.com/ v1": " (it contains white space)",
    }
    for url, hint in cases.items():
        status, body = await service.request("POST", "/ai-judges", json={**base, "base_url": url})
        error = assert_error(status, body, 422, "validation_error")
        expected = f"base_url must be an http(s) URL such as https://api.openai.com/v1{hint}"
        assert error["message"] == f"base_url: {expected}", error
        assert "https?" not in error["message"]
        assert error["details"][0]["loc"] == ["body", "base_url"]

    judge = await create_judge(service, "http://127.0.0.1:9/v1")
    status, body = await service.request(
        "PATCH", f"/ai-judges/{judge['id']}", json={"base_url": "api.openai.com/v1"}
    )
    error = assert_error(status, body, 422, "validation_error")
    assert "did you mean http://api.openai.com/v1?" in error["message"], error
