"""Client frame validation: clear errors for bad input, forward-compatible extras."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mangaassist.orchestrator.schema import ErrorCode, QueryFrame, describe_validation_error, error_frame


def test_minimal_query_is_valid() -> None:
    frame = QueryFrame.model_validate({"type": "query", "text": "hi", "future_field": 1})
    assert frame.request_id is None and frame.filters is None


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "query"},
        {"type": "query", "text": "   "},
        {"type": "chat", "text": "hi"},
        {"type": "query", "text": 42},
        {"type": "query", "text": "hi", "filters": {"max_price": 100}},
        {"type": "query", "text": "hi", "filters": {"genre": "not-a-genre"}},
        {"type": "query", "text": "hi", "filters": {"max_price_jpy": -1}},
        {"type": "query", "text": "hi", "filters": {"max_price_jpy": "cheap"}},
        {"type": "query", "text": "hi", "filters": {"in_stock": "yes"}},
        {"type": "query", "text": "hi", "request_id": "has spaces"},
    ],
)
def test_bad_frames_are_rejected_with_a_readable_message(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        QueryFrame.model_validate(raw)
    message = describe_validation_error(info.value)
    assert message and "Traceback" not in message


def test_error_frames_say_whether_to_retry() -> None:
    assert error_frame("r1", ErrorCode.UNAVAILABLE, "x")["retryable"] is True
    assert error_frame("r1", ErrorCode.INVALID_REQUEST, "x")["retryable"] is False
