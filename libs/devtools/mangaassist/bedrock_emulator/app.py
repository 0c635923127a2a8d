"""The emulator's HTTP server (aiohttp): Bedrock runtime routes, faults, latency, counters.

Routes (the real service's REST paths, so botocore's serializers/parsers are exercised):

- ``POST /model/{modelId}/converse``          JSON answer
- ``POST /model/{modelId}/converse-stream``   ``application/vnd.amazon.eventstream`` events
- ``POST /model/{modelId}/invoke``            Titan text embeddings (``inputText`` → ``embedding``)
- ``POST /guardrail/{id}/version/{v}/apply``  ApplyGuardrail with local rules

Test/ops routes: ``GET /_emulator/health``, ``GET /_emulator/stats``, ``POST /_emulator/reset``,
``POST /_emulator/faults`` (``{"rules": [{"model": "sonnet", "fault": "throttle", "count": 2}]}``).

Faults (header ``x-mangaassist-fault``, a fault rule, or the ``FAULTS`` setting), comma separated:
``throttle`` (429 ThrottlingException), ``unavailable`` (503 ServiceUnavailableException),
``slow-first-token=MS``, ``cut-after=N`` (drop the connection after N text deltas),
``stream-error-after=N`` (in-stream modelStreamErrorException), ``malformed-after=N`` (a frame
with a bad CRC after N deltas), ``token-gap=MS`` (a wait before every delta after the first),
``pii-leak`` (the answer ends with contact details a guardrail must catch).

Assistant prefill, as Claude does it: when the last message is the assistant's, that text is
the start of the answer and the model continues it — the stream carries only what follows
(a prefill that is not the start of the emulator's own answer gets its whole answer on a new
line). A prefill that ends with whitespace is refused with ValidationException, as Claude
refuses it. ``/_emulator/stats`` lists the client ports of the streams in progress, so a
test can tell which process is being answered.

TEST ONLY — ``ECHO_HISTORY=true`` (off by default): every answer ends by quoting the
conversation history the request carried, the way a real model may repeat an earlier
order or address. It exists so tests through the mesh can see customer data travel in an
answer (e.g. through a shared cache); never set it anywhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mangaassist.bedrock_emulator import eventstream
from mangaassist.bedrock_emulator.compose import chunk, compose, parse

EMULATOR_HEADER = "x-mangaassist-emulator"
FAULT_HEADER = "x-mangaassist-fault"
EMULATOR_ID = "mangaassist-bedrock-emulator"

# Time to first token (median, p95) and gap between tokens (median) in ms, per model:
# shaped like the design's Bedrock figures (Haiku ≈ 300 ms, Sonnet ≈ 800 ms p95):
# docs/decisions/0008-budgets-pools-breakers.md.
PROFILES: dict[str, dict[str, tuple[float, float, float]]] = {
    "seed": {"haiku": (150.0, 300.0, 6.0), "sonnet": (400.0, 800.0, 12.0)},
    "zero": {"haiku": (0.0, 0.0, 0.0), "sonnet": (0.0, 0.0, 0.0)},
}


class EmulatorSettings(BaseSettings):
    """``MANGAASSIST_BEDROCK_EMULATOR_*``."""

    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_BEDROCK_EMULATOR_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8091, ge=0, le=65535)
    latency_profile: str = Field(default="seed", pattern="^(seed|zero)$")
    # When set, a fixed wait before every token, the first included, instead of the profile
    # (the service is idle when the first token arrives, as it is with a real model).
    token_delay_ms: float | None = Field(default=None, ge=0.0)
    # Standing faults per model family, e.g. {"sonnet": "throttle"}.
    faults: dict[str, str] = Field(default_factory=dict)
    seed: int = 7
    log_level: str = "INFO"
    # TEST ONLY (see the module docstring): answers quote the history they were given.
    echo_history: bool = False


@dataclass
class FaultRule:
    model: str  # "haiku", "sonnet" or "*"
    fault: str
    remaining: int | None  # None = forever


@dataclass
class Fault:
    throttle: bool = False
    unavailable: bool = False
    slow_first_token_ms: float = 0.0
    cut_after: int | None = None
    token_gap_ms: float = 0.0
    stream_error_after: int | None = None
    malformed_after: int | None = None
    pii_leak: bool = False


def parse_fault(spec: str) -> Fault:
    """``"throttle"``, ``"cut-after=3,slow-first-token=200"`` … → ``Fault`` (ValueError if unknown)."""
    fault = Fault()
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, value = item.partition("=")
        if name == "throttle":
            fault.throttle = True
        elif name == "unavailable":
            fault.unavailable = True
        elif name == "slow-first-token":
            fault.slow_first_token_ms = float(value)
        elif name == "cut-after":
            fault.cut_after = int(value)
        elif name == "token-gap":
            fault.token_gap_ms = float(value)
        elif name == "stream-error-after":
            fault.stream_error_after = int(value)
        elif name == "malformed-after":
            fault.malformed_after = int(value)
        elif name == "pii-leak":
            fault.pii_leak = True
        else:
            raise ValueError(f"unknown fault {name!r}")
    return fault


# What Converse answers for, as Bedrock does for a Claude id or profile; any other id is refused
# with Bedrock's ValidationException (what a wrong or retired model id gets).
CHAT_FAMILIES = ("haiku", "sonnet")


def model_family(model_id: str) -> str:
    lowered = model_id.lower()
    for family in ("haiku", "sonnet", "titan"):
        if family in lowered:
            return family
    return "unknown"


# Guardrail rules (the emulator's stand-in for a Bedrock guardrail's policies).
_PII = {
    "EMAIL": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "CREDIT_DEBIT_CARD_NUMBER": re.compile(r"\b(?:\d[ -]?){13,16}\b"),
    "PHONE": re.compile(r"(?:\+\d{1,3}[ -]?)?(?:\(?0\d{1,4}\)?[ -]?\d{1,4}[ -]?\d{3,4})\b"),
}
_DENIED_WORDS = ("ignore previous instructions", "system prompt", "前の指示を無視")


@dataclass
class _Chat:
    """One chat answer as the model would give it, before it is sent (whole or streamed)."""

    fault: Fault
    pieces: list[str]
    input_tokens: int
    stop: str
    ttft: float
    gap: float
    started: float

    def usage(self) -> dict[str, Any]:
        """The ``usage`` and ``metrics`` members both Converse APIs end with."""
        out = len(self.pieces)
        return {
            "usage": {"inputTokens": self.input_tokens, "outputTokens": out, "totalTokens": self.input_tokens + out},
            "metrics": {"latencyMs": int((time.perf_counter() - self.started) * 1000)},
        }


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    seen: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    # (request received, first text event written) per recent ConverseStream, on the
    # system-wide monotonic clock (``time.perf_counter``), so a client on this machine can
    # tell its own time to first token from the emulator's.
    streams: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=100))
    # Client (host, port) of each ConverseStream still being written.
    active: Counter[tuple[str, int]] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recent_streams": [{"received": r, "first_text": f} for r, f in self.streams],
            "active_streams": [{"host": h, "port": p} for (h, p), n in self.active.items() if n > 0],
            "connections": self.connections,
            "requests": sum(self.requests.values()),
            "by_operation": dict(self.requests),
            "by_model": dict(self.models),
            "faults_injected": dict(self.faults),
        }


class Emulator:
    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.stats = Stats()
        self.rules: list[FaultRule] = [FaultRule(m, f, None) for m, f in settings.faults.items()]
        self._rng = random.Random(settings.seed)
        for spec in settings.faults.values():
            parse_fault(spec)  # fail fast on a bad setting

    # ---- bookkeeping -------------------------------------------------------------------
    def _count(self, request: web.Request, operation: str, family: str) -> None:
        transport = request.transport
        if transport is not None and transport not in self.stats.seen:
            self.stats.seen.add(transport)
            self.stats.connections += 1
        self.stats.requests[operation] += 1
        self.stats.models[family] += 1

    def _fault_for(self, request: web.Request, family: str) -> Fault:
        header = request.headers.get(FAULT_HEADER)
        if header:
            return parse_fault(header)
        for rule in self.rules:
            if rule.model in (family, "*") and rule.remaining != 0:
                if rule.remaining is not None:
                    rule.remaining -= 1
                return parse_fault(rule.fault)
        return Fault()

    def _lognormal(self, median: float, p95: float) -> float:
        if median <= 0:
            return 0.0
        sigma = math.log(p95 / median) / 1.645 if p95 > median else 0.0
        return median * math.exp(self._rng.gauss(0.0, sigma))

    def _latency(self, family: str) -> tuple[float, float]:
        """(time to first token, gap between tokens) in seconds for one request."""
        if self.settings.token_delay_ms is not None:
            return self.settings.token_delay_ms / 1000, self.settings.token_delay_ms / 1000
        median, p95, gap = PROFILES[self.settings.latency_profile].get(family, (0.0, 0.0, 0.0))
        return self._lognormal(median, p95) / 1000, gap / 1000

    # ---- errors in the REST-JSON shape botocore parses ----------------------------------
    def _error(self, status: int, code: str, message: str) -> web.Response:
        self.stats.faults[code] += 1
        return web.Response(
            status=status,
            body=orjson.dumps({"message": message}),
            headers={
                "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                "Content-Type": "application/json",
                EMULATOR_HEADER: EMULATOR_ID,
            },
        )

    def _refuse(self, fault: Fault) -> web.Response | None:
        if fault.throttle:
            return self._error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        if fault.unavailable:
            return self._error(503, "ServiceUnavailableException", "The service is temporarily unavailable.")
        return None

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise web.HTTPBadRequest(
                body=orjson.dumps({"message": "request body is not JSON"}),
                headers={"x-amzn-ErrorType": "ValidationException", "Content-Type": "application/json"},
            ) from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                body=orjson.dumps({"message": "request body must be an object"}),
                headers={"x-amzn-ErrorType": "ValidationException", "Content-Type": "application/json"},
            )
        return body

    @staticmethod
    def _turns(body: dict[str, Any]) -> list[tuple[str, str]]:
        turns: list[tuple[str, str]] = []
        for message in body.get("messages", []):
            content = "".join(b.get("text", "") for b in message.get("content", []) if isinstance(b, dict))
            turns.append((str(message.get("role", "")), content))
        return turns

    def _bad_prefill(self, body: dict[str, Any]) -> web.Response | None:
        """Claude's rule for an assistant prefill: it may not end with whitespace."""
        turns = self._turns(body)
        if turns and turns[-1][0] == "assistant" and turns[-1][1] != turns[-1][1].rstrip():
            return self._error(
                400, "ValidationException", "messages: final assistant content cannot end with trailing whitespace"
            )
        return None

    def _answer(self, family: str, body: dict[str, Any], fault: Fault) -> tuple[list[str], int, str]:
        """(output chunks, input tokens, stop reason) for a Converse request body."""
        texts = [b.get("text", "") for b in body.get("system", []) if isinstance(b, dict)]
        turns = self._turns(body)
        texts.extend(text for _, text in turns)
        prefill = turns.pop()[1] if turns and turns[-1][0] == "assistant" else ""
        last_user = next((text for role, text in reversed(turns) if role == "user"), "")
        max_tokens = int(body.get("inferenceConfig", {}).get("maxTokens", 4096))
        answer = compose(family, parse(last_user))
        history = turns[:-1] if turns and turns[-1][0] == "user" else turns
        if self.settings.echo_history and history:
            answer += "\n[history] " + " | ".join(f"{role}: {text}" for role, text in history)
        if fault.pii_leak:
            answer += "\nContact the author at mangaka.fan@example.com or 090-1234-5678."
        if prefill:
            answer = answer[len(prefill) :] if answer.startswith(prefill) else "\n" + answer
        pieces = chunk(answer)
        stop = "end_turn"
        if len(pieces) > max_tokens:
            pieces, stop = pieces[:max_tokens], "max_tokens"
        return pieces, len(chunk("\n".join(texts))), stop

    async def _chat(self, request: web.Request, operation: str) -> _Chat | web.Response:
        """A Converse(Stream) request counted, checked and answered (not yet sent), or the
        error response it gets instead: an unknown model or an injected refusal."""
        family = model_family(unquote(request.match_info["model_id"]))
        self._count(request, operation, family)
        if family not in CHAT_FAMILIES:
            return self._error(400, "ValidationException", "The provided model identifier is invalid.")
        fault = self._fault_for(request, family)
        refused = self._refuse(fault)
        if refused is not None:
            return refused
        body = await self._body(request)
        invalid = self._bad_prefill(body)
        if invalid is not None:
            return invalid
        started = time.perf_counter()
        ttft, gap = self._latency(family)
        gap += fault.token_gap_ms / 1000
        pieces, input_tokens, stop = self._answer(family, body, fault)
        return _Chat(fault, pieces, input_tokens, stop, ttft, gap, started)

    # ---- routes -------------------------------------------------------------------------
    async def converse(self, request: web.Request) -> web.StreamResponse:
        chat = await self._chat(request, "Converse")
        if isinstance(chat, web.Response):
            return chat
        await asyncio.sleep(chat.ttft + chat.fault.slow_first_token_ms / 1000 + chat.gap * len(chat.pieces))
        return web.Response(
            body=orjson.dumps(
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": "".join(chat.pieces)}]}},
                    "stopReason": chat.stop,
                    **chat.usage(),
                }
            ),
            headers={"Content-Type": "application/json", EMULATOR_HEADER: EMULATOR_ID},
        )

    async def converse_stream(self, request: web.Request) -> web.StreamResponse:
        received = time.perf_counter()
        chat = await self._chat(request, "ConverseStream")
        if isinstance(chat, web.Response):
            return chat
        fault, pieces, ttft, gap = chat.fault, chat.pieces, chat.ttft, chat.gap
        response = web.StreamResponse(
            headers={"Content-Type": "application/vnd.amazon.eventstream", EMULATOR_HEADER: EMULATOR_ID}
        )
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        client = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        active = self.stats.active  # a reset meanwhile replaces the stats, not this stream's entry
        active[client] += 1
        try:
            await response.prepare(request)
            await response.write(eventstream.event("messageStart", {"role": "assistant"}))
            await asyncio.sleep(ttft + fault.slow_first_token_ms / 1000)
            for i, piece in enumerate(pieces):
                if i and gap:
                    await asyncio.sleep(gap)
                if fault.cut_after is not None and i >= fault.cut_after:
                    self.stats.faults["cut"] += 1
                    # Let the client read what was sent (a real cut comes some time after the
                    # last bytes; a FIN in the same read makes aiohttp drop the buffered data).
                    await asyncio.sleep(0.05)
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                if fault.stream_error_after is not None and i >= fault.stream_error_after:
                    self.stats.faults["modelStreamErrorException"] += 1
                    await response.write(eventstream.exception("modelStreamErrorException", "The model stream failed."))
                    await response.write_eof()
                    return response
                malformed = fault.malformed_after is not None and i >= fault.malformed_after
                if malformed:
                    self.stats.faults["malformed"] += 1
                await response.write(
                    eventstream.event(
                        "contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}, corrupt_crc=malformed
                    )
                )
                if i == 0:  # the first text event has been handed to the socket
                    self.stats.streams.append((received, time.perf_counter()))
                if malformed:
                    await response.write_eof()
                    return response
            await response.write(eventstream.event("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(eventstream.event("messageStop", {"stopReason": chat.stop}))
            await response.write(eventstream.event("metadata", chat.usage()))
            await response.write_eof()
            return response
        finally:
            active[client] -= 1
            if active[client] <= 0:
                del active[client]

    async def apply_guardrail(self, request: web.Request) -> web.StreamResponse:
        self._count(request, "ApplyGuardrail", "guardrail")
        refused = self._refuse(self._fault_for(request, "guardrail"))
        if refused is not None:
            return refused
        body = await self._body(request)
        text = "\n".join(
            block.get("text", {}).get("text", "") for block in body.get("content", []) if isinstance(block, dict)
        )
        pii = [
            {"match": m.group(0), "type": kind, "action": "ANONYMIZED", "detected": True}
            for kind, pattern in _PII.items()
            for m in pattern.finditer(text)
        ]
        lowered = text.lower()
        words = [{"match": w, "action": "BLOCKED", "detected": True} for w in _DENIED_WORDS if w in lowered]
        masked = text
        for kind, pattern in _PII.items():
            masked = pattern.sub(f"{{{kind}}}", masked)
        intervened = bool(pii or words)
        units = max(1, math.ceil(len(text) / 1000))
        return web.Response(
            body=orjson.dumps(
                {
                    "usage": {
                        "topicPolicyUnits": 0,
                        "contentPolicyUnits": 0,
                        "wordPolicyUnits": units,
                        "sensitiveInformationPolicyUnits": units,
                        "sensitiveInformationPolicyFreeUnits": 0,
                        "contextualGroundingPolicyUnits": 0,
                    },
                    "action": "GUARDRAIL_INTERVENED" if intervened else "NONE",
                    "outputs": [{"text": masked}] if intervened else [],
                    "assessments": [
                        {
                            "sensitiveInformationPolicy": {"piiEntities": pii, "regexes": []},
                            "wordPolicy": {"customWords": words, "managedWordLists": []},
                        }
                    ],
                }
            ),
            headers={"Content-Type": "application/json", EMULATOR_HEADER: EMULATOR_ID},
        )

    async def invoke_model(self, request: web.Request) -> web.StreamResponse:
        """Titan text embeddings: a deterministic unit vector per text (hash-seeded)."""
        model_id = unquote(request.match_info["model_id"])
        family = model_family(model_id)
        self._count(request, "InvokeModel", family)
        refused = self._refuse(self._fault_for(request, family))
        if refused is not None:
            return refused
        if family != "titan":
            return self._error(400, "ValidationException", "the emulator's InvokeModel serves Titan embeddings only")
        body = await self._body(request)
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            return self._error(400, "ValidationException", "inputText must be a non-empty string")
        dimensions = int(body.get("dimensions", 1024))
        if dimensions not in (256, 512, 1024):
            return self._error(400, "ValidationException", "dimensions must be 256, 512 or 1024")
        rng = random.Random(hashlib.sha256(text.encode()).digest())
        vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
        norm = math.sqrt(sum(v * v for v in vector))
        return web.Response(
            body=orjson.dumps({"embedding": [v / norm for v in vector], "inputTextTokenCount": len(chunk(text))}),
            headers={"Content-Type": "application/json", EMULATOR_HEADER: EMULATOR_ID},
        )

    # ---- test / ops routes --------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "emulator": EMULATOR_ID})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict())

    async def reset(self, request: web.Request) -> web.Response:
        self.stats = Stats()
        self.rules = [FaultRule(m, f, None) for m, f in self.settings.faults.items()]
        return web.json_response({"status": "reset"})

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            raw = orjson.loads(await request.read())
            rules = [
                FaultRule(
                    str(r.get("model", "*")), str(r["fault"]), int(r["count"]) if r.get("count") is not None else None
                )
                for r in raw.get("rules", [])
            ]
            for rule in rules:
                parse_fault(rule.fault)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            return web.json_response({"error": f"bad fault rules: {exc}"}, status=400)
        self.rules = rules
        return web.json_response({"rules": len(rules)})


def build_app(settings: EmulatorSettings) -> tuple[web.Application, Emulator]:
    emulator = Emulator(settings)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.add_routes(
        [
            web.post("/model/{model_id}/converse", emulator.converse),
            web.post("/model/{model_id}/converse-stream", emulator.converse_stream),
            web.post("/model/{model_id}/invoke", emulator.invoke_model),
            web.post("/guardrail/{guardrail_id}/version/{version}/apply", emulator.apply_guardrail),
            web.get("/_emulator/health", emulator.health),
            web.get("/_emulator/stats", emulator.get_stats),
            web.post("/_emulator/reset", emulator.reset),
            web.post("/_emulator/faults", emulator.set_faults),
        ]
    )
    return app, emulator
