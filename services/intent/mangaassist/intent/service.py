"""IntentService servicer: classify, score every intent, extract entities, decide the route."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace

from mangaassist.common.errors import invalid_argument
from mangaassist.common.language import detect_language
from mangaassist.intent.entities import Entities, extract
from mangaassist.intent.model import IntentModel
from mangaassist.intent.routing import ROUTE_NAMES, decide, extract_features
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc


def entities_message(found: Entities) -> intent_pb2.Entities:
    out = intent_pb2.Entities(
        order_ids=found.order_ids, titles=found.titles, volumes=found.volumes,
        genres=found.genres, excluded_genres=found.excluded_genres,
    )
    if found.max_price_jpy is not None:
        out.max_price_jpy = found.max_price_jpy
    if found.min_price_jpy is not None:
        out.min_price_jpy = found.min_price_jpy
    if found.language is not None:
        out.language = found.language
    if found.in_stock is not None:
        out.in_stock = found.in_stock
    return out


class IntentServicer(intent_pb2_grpc.IntentServiceServicer):
    def __init__(
        self, model: IntentModel, abstain_threshold: float | None, max_text_chars: int, explain_top: int = 5
    ) -> None:
        self._model = model
        # The threshold chosen on validation data travels with the model; a setting may override it.
        self._threshold = model.threshold if abstain_threshold is None else abstain_threshold
        self._max_chars = max_text_chars
        self._explain_top = explain_top

    async def Classify(
        self, request: intent_pb2.ClassifyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> intent_pb2.ClassifyResponse:
        text = request.text.strip()
        if not text:
            raise invalid_argument("text must not be empty")
        if len(text) > self._max_chars:
            raise invalid_argument(f"text longer than {self._max_chars} characters")
        if request.language_hint not in ("", "ja", "en"):
            raise invalid_argument("language_hint must be 'ja', 'en' or empty")
        if request.context.turn_count < 0:
            raise invalid_argument("context.turn_count must not be negative")
        # Tens of microseconds of CPU: running inline is cheaper than an executor hop.
        prediction = self._model.predict(text)
        intent, confidence = prediction.intent, prediction.confidence
        abstained = confidence < self._threshold
        features = extract_features(text, request.context.turn_count)
        routing = decide(intent, features, abstained)
        language = request.language_hint or detect_language(text)
        entities = extract(text)

        span = trace.get_current_span()
        span.set_attribute("intent", intent)
        span.set_attribute("intent.confidence", confidence)
        span.set_attribute("intent.abstained", abstained)
        span.set_attribute("intent.model_version", self._model.version)
        span.set_attribute("routing.model", ROUTE_NAMES[routing.route])
        span.set_attribute("routing.reason", routing.reason)
        span.set_attribute("routing.features", list(routing.features))
        # Which kinds of entity were found, never their values (they can be personal: order ids).
        span.set_attribute("intent.entities", [
            name for name, value in vars(entities).items() if value not in (None, [])
        ])
        reply = intent_pb2.ClassifyResponse(
            intent=intent,
            confidence=confidence,
            scores=[intent_pb2.IntentScore(intent=k, score=v) for k, v in prediction.ranked()],
            routing=routing,
            language=language,
            abstained=abstained,
            entities=entities_message(entities),
            model_version=self._model.version,
            threshold=self._threshold,
        )
        if request.explain:
            reply.explanation.extend(
                intent_pb2.FeatureContribution(feature=name, weight=weight)
                for name, weight in self._model.explain(text, intent, self._explain_top)
            )
        return reply
