"""IntentService servicer: classify, score every intent, extract entities, decide the route."""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np
from opentelemetry import trace

from mangaassist.common.errors import invalid_argument
from mangaassist.common.language import detect_language
from mangaassist.common.messages import copy_present, message_of
from mangaassist.common.vocabulary import PRODUCT_INTENTS
from mangaassist.intent.dialogue import resolve, superlative, unlinked_title
from mangaassist.intent.entities import Entities, extract
from mangaassist.intent.model import IntentModel
from mangaassist.intent.routing import ROUTE_NAMES, decide, extract_features, handling_confidence
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

# What the reply tells of the turn's resolution (the ``Resolution`` fields of the same names).
RESOLVED_FIELDS = ("state", "action", "reason", "candidates", "not_carried", "follow_up", "offered_only")


def entities_message(found: Entities) -> intent_pb2.Entities:
    out = message_of(intent_pb2.Entities, found, ("order_ids", "titles", "volumes", "genres", "excluded_genres"))
    copy_present(found, out, ("max_price_jpy", "min_price_jpy", "language", "in_stock"))
    return out


# Actions answered without a model: a question back to the customer, by name.
DETERMINISTIC_ACTIONS = frozenset({"clarify_series", "ask_order_id"})


class IntentServicer(intent_pb2_grpc.IntentServiceServicer):
    def __init__(
        self, model: IntentModel, abstain_threshold: float | None, max_text_chars: int, explain_top: int = 5
    ) -> None:
        self._model = model
        # The thresholds chosen on validation data travel with the model (one per head); a
        # setting may override both.
        self._override = abstain_threshold
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
        embedding = self._embedding(request)
        # Tens of microseconds of CPU: running inline is cheaper than an executor hop.
        prediction = self._model.predict(text, embedding)
        intent, confidence = prediction.intent, prediction.confidence
        threshold = prediction.threshold if self._override is None else self._override
        abstained = handling_confidence(prediction.ranked()) < threshold
        entities = extract(text)
        mentions = list(request.mentions)
        previous = request.context.previous_intents
        resolution = resolve(
            text,
            intent,
            abstained,
            mentions,
            request.state,
            unlinked_title(text, entities, mentions),
            previous[-1] if previous else "",
            entities,
        )
        if resolution.intent != intent or resolution.action != "clarify":
            # The turn was understood against the catalog and the conversation: no generic ask-back.
            intent, abstained = resolution.intent, resolution.action == "clarify"
        features = extract_features(text, request.context.turn_count)
        routing = decide(intent, features, abstained)
        if resolution.action in DETERMINISTIC_ACTIONS:
            routing = intent_pb2.RoutingDecision(
                route=intent_pb2.ROUTE_NONE, reason=resolution.reason, features=routing.features
            )
        language = request.language_hint or detect_language(text)

        span = trace.get_current_span()
        span.set_attribute("intent", intent)
        span.set_attribute("intent.confidence", confidence)
        span.set_attribute("intent.abstained", abstained)
        span.set_attribute("intent.model_version", self._model.version)
        span.set_attribute("intent.classifier", prediction.classifier)
        span.set_attribute("routing.model", ROUTE_NAMES[routing.route])
        span.set_attribute("routing.reason", routing.reason)
        span.set_attribute("routing.features", list(routing.features))
        span.set_attribute("dialogue.action", resolution.action)
        span.set_attribute("dialogue.reason", resolution.reason)
        span.set_attribute("dialogue.follow_up", resolution.follow_up)
        span.set_attribute("dialogue.mentions", len(mentions))
        # Which kinds of entity were found, never their values (they can be personal: order ids).
        span.set_attribute(
            "intent.entities", [name for name, value in vars(entities).items() if value not in (None, [])]
        )
        reply = intent_pb2.ClassifyResponse(
            intent=intent,
            confidence=confidence,
            scores=[intent_pb2.IntentScore(intent=k, score=v) for k, v in prediction.ranked()],
            routing=routing,
            language=language,
            abstained=abstained,
            entities=entities_message(entities),
            model_version=self._model.version,
            threshold=threshold,
            classifier=prediction.classifier,
            resolved=message_of(intent_pb2.ResolvedRequest, resolution, RESOLVED_FIELDS),
        )
        if resolution.intent in PRODUCT_INTENTS:
            reply.resolved.order = superlative(text)
        if request.explain:
            reply.explanation.extend(
                intent_pb2.FeatureContribution(feature=name, weight=weight)
                for name, weight in self._model.explain(text, intent, self._explain_top, embedding)
            )
        return reply

    def _embedding(self, request: intent_pb2.ClassifyRequest) -> np.ndarray[Any, np.dtype[np.float32]] | None:
        """The shared query embedding when the fusion head can use it, else ``None`` (text head).

        A vector from another embedder (Titan in AWS) is not an error: the text head answers.
        A vector that claims to be ours but has the wrong size or non-finite values is.
        """
        if not request.query_embedding:
            return None
        fusion = self._model.fusion
        if fusion is None or request.embedding_model != fusion.embedder:
            return None
        if len(request.query_embedding) != fusion.dim:
            raise invalid_argument(
                f"query_embedding has {len(request.query_embedding)} values, {fusion.embedder} has {fusion.dim}"
            )
        vector = np.asarray(request.query_embedding, dtype=np.float32)
        if not all(math.isfinite(x) for x in request.query_embedding):
            raise invalid_argument("query_embedding holds non-finite values")
        return vector
