"""IntentService servicer: classify, score every intent, decide the route."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace

from mangaassist.common.errors import ServiceError, invalid_argument
from mangaassist.common.language import detect_language
from mangaassist.intent.model import IntentModel
from mangaassist.intent.routing import ROUTE_NAMES, decide, extract_features
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc


class IntentServicer(intent_pb2_grpc.IntentServiceServicer):
    def __init__(self, model: IntentModel, abstain_threshold: float, max_text_chars: int) -> None:
        self._model = model
        self._threshold = abstain_threshold
        self._max_chars = max_text_chars

    async def Classify(
        self, request: intent_pb2.ClassifyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> intent_pb2.ClassifyResponse:
        if not self._model.labels:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "model is still loading")
        text = request.text.strip()
        if not text:
            raise invalid_argument("text must not be empty")
        if len(text) > self._max_chars:
            raise invalid_argument(f"text longer than {self._max_chars} characters")
        # Sub-millisecond CPU work: running it inline is cheaper than an executor hop.
        probs = self._model.predict_proba(text)
        ranked = sorted(probs.items(), key=lambda kv: kv[1], reverse=True)
        intent, confidence = ranked[0]
        abstained = confidence < self._threshold
        features = extract_features(text, request.context.turn_count)
        routing = decide(intent, features, abstained)
        language = request.language_hint if request.language_hint in ("ja", "en") else detect_language(text)

        span = trace.get_current_span()
        span.set_attribute("intent", intent)
        span.set_attribute("intent.confidence", confidence)
        span.set_attribute("intent.abstained", abstained)
        span.set_attribute("routing.model", ROUTE_NAMES[routing.route])
        span.set_attribute("routing.features", list(routing.features))
        return intent_pb2.ClassifyResponse(
            intent=intent,
            confidence=confidence,
            scores=[intent_pb2.IntentScore(intent=k, score=v) for k, v in ranked],
            routing=routing,
            language=language,
            abstained=abstained,
        )
