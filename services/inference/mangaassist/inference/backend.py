"""The foundation-model seam: every backend streams text chunks, then one final event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from mangaassist.proto.inference.v1 import inference_pb2

MODELS: frozenset[str] = frozenset({"haiku", "sonnet"})


@dataclass(frozen=True)
class Finished:
    """The last event of a stream."""

    input_tokens: int
    output_tokens: int
    finish_reason: str  # "end_turn" or "max_tokens"
    model: str


class FoundationModel(Protocol):
    """A streaming text generator (the local emulator now; Bedrock ConverseStream next)."""

    name: str

    def stream(
        self, model: str, prompt: inference_pb2.PromptParts, max_tokens: int
    ) -> AsyncIterator[str | Finished]:
        """Yield text chunks as they are produced, then exactly one ``Finished``."""
        ...
