"""A judge's max_document_chars and fields shape what a judging run sends."""

from __future__ import annotations

from tests.support.api import create_judge, start_run, wait_until_ended
from tests.support.fakes import FakeProviders
from tests.support.service import ServiceFactory


async def test_a_judging_run_sends_truncated_text_and_only_the_chosen_fields(
    services: ServiceFactory,
    fake_provider: FakeProviders,
) -> None:
    provider = await fake_provider()
    service = await services.start()
    body = {
        "name": "long documents",
        "scale": {"min": 0, "max": 3},
        "queries": [
            {
                "query_id": "q1",
                "text": "running shoes",
                "candidates": [
                    {
                        "doc_id": "d1",
                        "rank": 1,
                        "title": "Trail runner",
                        "text": "Lightweight trail running shoe with a grippy sole. " * 50,
                        "fields": {
                            "brand": "Acme",
                            "price": 89.0,
                            "embedding": [0.123] * 384,
                            "thumbnail": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg",
                        },
                    }
                ],
            }
        ],
    }
    status, evaluation = await service.request("POST", "/evaluations/runs", json=body)
    assert status == 201
    judge = await create_judge(
        service,
        provider.base_url,
        max_document_chars=60,
        fields=["price", "brand", "embedding"],
    )
    final = await wait_until_ended(
        service, (await start_run(service, evaluation["id"], judge["id"]))["id"]
    )
    assert final["judged"] == 1
    prompt = provider.calls[0].prompt
    assert "Lightweight trail running shoe with a grippy sole. […]\n" in prompt
    assert prompt.count("grippy") == 1
    assert "price: 89.0\nbrand: Acme\n" in prompt  # the judge's order
    assert "0.123" not in prompt and "base64" not in prompt
