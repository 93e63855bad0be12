"""OpenAI's parameter rules for reasoning models, and the reasoning tokens they bill.

Reasoning models (``o1``, ``o3``, ``o4-mini``, ``gpt-5``…) refuse ``max_tokens`` (the cap
is ``max_completion_tokens``) and any ``temperature`` but 1, and alone accept
``reasoning_effort``. An older OpenAI-compatible server (``legacy_max_tokens``) does not
know ``max_completion_tokens`` at all and says so in its own error shape. Pure functions.
"""

from __future__ import annotations

import math

from releval_judge.sim.config import SimConfig
from releval_judge.sim.dialects import CallRequest, SimError

REASONING_EFFORTS = ("minimal", "low", "medium", "high")

#: Reasoning tokens billed per visible output token, by effort (default: medium).
REASONING_SHARE = {"minimal": 0.25, "low": 0.5, "medium": 1.0, "high": 2.0}


def check_parameters(call: CallRequest, config: SimConfig) -> None:
    """Raise the 400 the real server answers to a parameter this model refuses."""
    if config.legacy_max_tokens and call.max_completion_tokens is not None:
        message = "Unrecognized request argument supplied: max_completion_tokens"
        raise SimError(
            400,
            "invalid_request",
            message,
            body={"object": "error", "message": message, "type": "BadRequestError", "code": 400},
        )
    reasoning = config.is_reasoning_model(call.model)
    if call.reasoning_effort is not None and not reasoning:
        raise _unsupported_parameter(
            "reasoning_effort",
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
        )
    if not reasoning:
        return
    if call.max_tokens is not None:
        raise _unsupported_parameter(
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        )
    if call.temperature is not None and call.temperature != 1:
        raise _unsupported_value(
            "temperature",
            f"Unsupported value: 'temperature' does not support {call.temperature:g} with "
            "this model. Only the default (1) value is supported.",
        )
    if call.reasoning_effort is not None and call.reasoning_effort not in REASONING_EFFORTS:
        supported = ", ".join(f"'{e}'" for e in REASONING_EFFORTS[:-1])
        raise _unsupported_value(
            "reasoning_effort",
            f"Unsupported value: 'reasoning_effort' does not support "
            f"'{call.reasoning_effort}' with this model. Supported values are: {supported}, "
            f"and '{REASONING_EFFORTS[-1]}'.",
        )


def reasoning_tokens(call: CallRequest, config: SimConfig, output_tokens: int) -> int:
    """The hidden reasoning a reasoning model bills on top of its answer: a share of the
    answer's tokens that grows with the effort; 0 for other models."""
    if not config.is_reasoning_model(call.model):
        return 0
    return math.ceil(output_tokens * REASONING_SHARE[call.reasoning_effort or "medium"])


def _unsupported_parameter(param: str, message: str) -> SimError:
    return SimError(400, "invalid_request", message, code="unsupported_parameter", param=param)


def _unsupported_value(param: str, message: str) -> SimError:
    return SimError(400, "invalid_request", message, code="unsupported_value", param=param)
