"""The contract's WebSocket frames: validated client frames and server frame builders."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from mangaassist.common.vocabulary import GENRES

ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
INT32_MAX = 2**31 - 1  # every number a frame carries ends up in an int32 proto field


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_REQUEST = "invalid_request"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    STREAM_INTERRUPTED = "stream_interrupted"
    INTERNAL = "internal"


RETRYABLE: frozenset[ErrorCode] = frozenset(
    {ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.STREAM_INTERRUPTED, ErrorCode.INTERNAL}
)


class QueryFilters(BaseModel):
    """Client filters. Unknown keys are rejected: a misspelt filter must not be ignored."""

    model_config = ConfigDict(extra="forbid")

    # The proto carries prices as int32: a larger number is the client's error, never an overflow.
    max_price_jpy: StrictInt | None = Field(default=None, ge=0, le=INT32_MAX)
    min_price_jpy: StrictInt | None = Field(default=None, ge=0, le=INT32_MAX)
    language: Literal["ja", "en"] | None = None
    in_stock: StrictBool | None = None
    genre: str | None = None

    @field_validator("genre")
    @classmethod
    def _known_genre(cls, value: str | None) -> str | None:
        if value is not None and value not in GENRES:
            raise ValueError(f"unknown genre; use one of {', '.join(sorted(GENRES))}")
        return value

    @model_validator(mode="after")
    def _min_not_above_max(self) -> QueryFilters:
        if (
            self.min_price_jpy is not None
            and self.max_price_jpy is not None
            and self.min_price_jpy > self.max_price_jpy
        ):
            raise ValueError("min_price_jpy must not be greater than max_price_jpy")
        return self


class QueryFrame(BaseModel):
    """``{"type": "query", ...}``; extra top-level keys are ignored (forward compatible)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["query"]
    text: str = Field(min_length=1)
    request_id: str | None = Field(default=None, pattern=ID_PATTERN)
    session_id: str | None = Field(default=None, pattern=ID_PATTERN)
    filters: QueryFilters | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class RequestError(Exception):
    """A failure that ends one request with a contract error frame."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_frame(
    request_id: str | None, code: ErrorCode, message: str, retry_after_s: float | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "error",
        "request_id": request_id,
        "code": code.value,
        "message": message,
        "retryable": code in RETRYABLE,
    }
    if retry_after_s is not None:
        frame["retry_after_s"] = retry_after_s
    return frame


def describe_validation_error(exc: Exception) -> str:
    """A short, people-readable summary of a pydantic error (no input echo)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return "invalid request"
    parts = []
    for err in errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "frame"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
