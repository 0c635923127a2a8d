"""The foundation-model seam: every backend streams text chunks, then one final event.

Backends raise the typed errors below, so the servicer decides fallbacks and maps them
to gRPC status codes in one place, whatever SDK sits underneath.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

MODELS: frozenset[str] = frozenset({"haiku", "sonnet"})


@dataclass(frozen=True)
class Finished:
    """The last event of a stream."""

    input_tokens: int
    output_tokens: int
    finish_reason: str  # Bedrock's stopReason: "end_turn", "max_tokens", "guardrail_intervened", …
    model: str
    model_latency_ms: float = 0.0  # what the model side reports (Bedrock metrics.latencyMs)


@dataclass(frozen=True)
class Conversation:
    """A rendered prompt: fixed system text plus alternating user/assistant messages."""

    system: str
    messages: list[tuple[str, str]]  # (role, text); the last one is the user's question

    @property
    def size_bytes(self) -> int:
        return len(self.system.encode()) + sum(len(text.encode()) for _, text in self.messages)


class ModelError(Exception):
    """The model call failed in a way the caller cannot fix by changing the request."""

    retry_elsewhere = False  # a fallback model may succeed


class ModelThrottled(ModelError):
    retry_elsewhere = True


class ModelUnavailable(ModelError):
    retry_elsewhere = True


class ModelTimeout(ModelError):
    retry_elsewhere = True


class ModelStreamBroken(ModelError):
    """The stream stopped before the model's stop event (cut, corrupt frame, stream error).

    Another model may answer only if no token was sent yet; the servicer checks that.
    """

    retry_elsewhere = True


class ModelUnreachable(Exception):
    """A configured model cannot be used at all: refused by Bedrock or its endpoint is unreachable."""

    def __init__(self, model: str, model_id: str, reason: str) -> None:
        super().__init__(f"{model} ({model_id}): {reason}")
        self.model = model
        self.model_id = model_id
        self.reason = reason


class FoundationModel(Protocol):
    """A streaming text generator (Bedrock ConverseStream, locally against the emulator)."""

    name: str

    async def start(self) -> None:
        """Open long-lived clients/pools."""

    async def warm_up(self) -> None:
        """Make the first real request fast (DNS, connections, a minimal request)."""

    async def close(self) -> None:
        """Release clients/pools."""

    def stream(
        self, model: str, conversation: Conversation, max_tokens: int, fail_fast: bool = False
    ) -> AsyncGenerator[str | Finished, None]:
        """Yield text chunks as they are produced, then exactly one ``Finished``.

        ``fail_fast``: no SDK retries (a fallback model is waiting)."""
        ...
