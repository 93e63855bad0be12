"""Request bodies read JSON's types as JSON means them: a boolean is not a number."""

from __future__ import annotations

import pydantic
import pytest

from releval_judge.models import AiJudgeCreate, CandidateIn, EvaluationRunPatch

JUDGE = '{"name": "j", "provider": "openai", "model": "m", '


@pytest.mark.parametrize(
    "field", ["temperature", "batch_size", "input_price_per_mtok", "request_timeout_s"]
)
@pytest.mark.parametrize("value", ["true", "false"])
def test_a_boolean_is_refused_where_a_number_is_expected(field: str, value: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="a boolean is not a number"):
        AiJudgeCreate.model_validate_json(JUDGE + f'"{field}": {value}}}')
    with pytest.raises(pydantic.ValidationError, match="a boolean is not a number"):
        CandidateIn.model_validate_json(f'{{"doc_id": "d", "rank": {value}}}')


def test_numbers_and_booleans_still_go_where_they_belong() -> None:
    judge = AiJudgeCreate.model_validate_json(JUDGE + '"temperature": 1, "batch_size": 5}')
    assert (judge.temperature, judge.batch_size) == (1.0, 5)
    assert EvaluationRunPatch.model_validate_json('{"locked": true}').locked is True
