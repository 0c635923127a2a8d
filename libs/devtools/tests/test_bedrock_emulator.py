"""The emulator speaks the Bedrock runtime wire protocol: the real aioboto3 client works against it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from mangaassist.bedrock_emulator import eventstream
from mangaassist.bedrock_emulator.app import Emulator, EmulatorSettings, Fault, parse_fault
from mangaassist.bedrock_emulator.compose import chunk, compose, parse
from mangaassist.devtools.emulator import EmulatorProcess

pytestmark = pytest.mark.integration

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = (
    "<language>en</language>\n<intent>product_recommendation</intent>\n<products>\n"
    '{"title": "Berserk", "authors": ["Kentaro Miura"], "genres": ["fantasy"], "price_jpy": 748, "in_stock": true}\n'
    "</products>\n<question>dark fantasy?</question>"
)


@pytest.fixture
async def client(emulator: EmulatorProcess) -> AsyncIterator[Any]:
    emulator.reset()
    session = aioboto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    config = AioConfig(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=10)
    async with session.client("bedrock-runtime", endpoint_url=emulator.url, config=config) as c:
        yield c


def with_fault(client: Any, fault: str) -> None:
    def add(request: Any, **_: Any) -> None:
        request.headers["x-mangaassist-fault"] = fault

    client.meta.events.register_first("before-sign.bedrock-runtime.*", add)


def messages(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_frames_parse_with_botocores_own_decoder_and_bad_crcs_are_caught() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(eventstream.event("contentBlockDelta", {"delta": {"text": "こんにちは"}, "contentBlockIndex": 0}))
    buffer.add_data(eventstream.exception("throttlingException", "slow down"))
    first, second = list(buffer)
    assert first.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(first.payload) == {"delta": {"text": "こんにちは"}, "contentBlockIndex": 0}
    assert second.headers[":exception-type"] == "throttlingException"
    bad = EventStreamBuffer()
    bad.add_data(eventstream.event("messageStop", {"stopReason": "end_turn"}, corrupt_crc=True))
    with pytest.raises(ChecksumMismatch):
        list(bad)


def test_composer_answers_only_from_the_prompt() -> None:
    prompt = parse(PROMPT)
    assert prompt.language == "en" and prompt.products[0]["title"] == "Berserk"
    text = compose("haiku", prompt)
    assert "Berserk" in text and "¥748" in text and "in stock" in text
    assert "".join(chunk(text)) == text
    assert "見つかりませんでした" in compose("haiku", parse("<language>ja</language><question>x</question>"))


def test_a_title_not_carried_is_said_first_then_the_alternatives() -> None:
    note = "<catalog_note>not sold here</catalog_note>"
    text = compose("haiku", parse(PROMPT.replace("<question>", note + "\n<question>")))
    assert text.startswith("Sorry, we don't carry that title.") and "Berserk" in text
    ja = parse(f"<language>ja</language>\n{note}\n<question>ボルトある？</question>")
    assert compose("haiku", ja) == "申し訳ありません、お探しの作品は当店では取り扱いがありません。"


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_fault("explode")


async def test_converse_stream_and_converse(client: Any) -> None:
    response = await client.converse_stream(modelId=HAIKU, messages=messages(), inferenceConfig={"maxTokens": 200})
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-mangaassist-emulator"]
    events = [e async for e in response["stream"]]
    assert "messageStart" in events[0]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert "Berserk" in text
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    usage = next(e["metadata"]["usage"] for e in events if "metadata" in e)
    assert stop["stopReason"] == "end_turn"
    assert usage["outputTokens"] == len(chunk(text)) and usage["inputTokens"] > 0

    short = await client.converse(modelId=HAIKU, messages=messages(), inferenceConfig={"maxTokens": 3})
    assert short["stopReason"] == "max_tokens" and short["usage"]["outputTokens"] == 3


async def test_apply_guardrail_and_titan_embeddings(client: Any) -> None:
    clean = await client.apply_guardrail(
        guardrailIdentifier="g", guardrailVersion="1", source="OUTPUT", content=[{"text": {"text": "Berserk is ¥748."}}]
    )
    assert clean["action"] == "NONE"
    flagged = await client.apply_guardrail(
        guardrailIdentifier="g",
        guardrailVersion="1",
        source="OUTPUT",
        content=[{"text": {"text": "mail me: a.b@example.com"}}],
    )
    assert flagged["action"] == "GUARDRAIL_INTERVENED"
    assert flagged["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"][0]["type"] == "EMAIL"

    reply = await client.invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "ベルセルク", "dimensions": 256})
    )
    body = json.loads(await reply["body"].read())
    assert len(body["embedding"]) == 256
    assert abs(sum(v * v for v in body["embedding"]) - 1.0) < 1e-6


@pytest.mark.parametrize(
    ("fault", "code"), [("throttle", "ThrottlingException"), ("unavailable", "ServiceUnavailableException")]
)
async def test_refusals_are_modelled_errors(client: Any, fault: str, code: str) -> None:
    with_fault(client, fault)
    with pytest.raises(ClientError) as caught:
        await client.converse_stream(modelId=HAIKU, messages=messages())
    assert caught.value.response["Error"]["Code"] == code


async def test_stream_faults_surface_while_reading(client: Any) -> None:
    with_fault(client, "stream-error-after=2")
    response = await client.converse_stream(modelId=HAIKU, messages=messages())
    seen = []
    with pytest.raises(EventStreamError):
        async for event in response["stream"]:
            seen.append(event)
    assert sum("contentBlockDelta" in e for e in seen) == 2


async def test_malformed_frame_fails_the_checksum(client: Any) -> None:
    with_fault(client, "malformed-after=1")
    response = await client.converse_stream(modelId=HAIKU, messages=messages())
    with pytest.raises(ChecksumMismatch):
        async for _ in response["stream"]:
            pass


async def test_cut_stream_raises_instead_of_ending_cleanly(client: Any) -> None:
    with_fault(client, "cut-after=2")
    response = await client.converse_stream(modelId=HAIKU, messages=messages())
    seen = []
    with pytest.raises(Exception) as caught:
        async for event in response["stream"]:
            seen.append(event)
    assert "messageStop" not in str(seen)
    assert caught.type.__name__ in ("ClientPayloadError", "ResponseStreamingError", "ServerDisconnectedError")


async def test_sequential_requests_reuse_one_connection(client: Any, emulator: EmulatorProcess) -> None:
    for _ in range(30):
        response = await client.converse_stream(modelId=HAIKU, messages=messages())
        async for _event in response["stream"]:
            pass
    counted = emulator.stats()
    assert counted["by_operation"]["ConverseStream"] == 30
    assert counted["connections"] == 1


def test_echo_history_is_off_by_default_and_quotes_the_history_when_on() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"text": "Where is order 249-1234567-7654321?"}]},
            {"role": "assistant", "content": [{"text": "It has shipped, tracking 4821-9932-1076."}]},
            *messages(),
        ]
    }
    plain = "".join(Emulator(EmulatorSettings())._answer("haiku", body, Fault())[0])
    echoed = "".join(Emulator(EmulatorSettings(echo_history=True))._answer("haiku", body, Fault())[0])
    assert "4821-9932-1076" not in plain and echoed.startswith(plain)
    assert "user: Where is order 249-1234567-7654321?" in echoed and "tracking 4821-9932-1076" in echoed
    first_turn = "".join(
        Emulator(EmulatorSettings(echo_history=True))._answer("haiku", {"messages": messages()}, Fault())[0]
    )
    assert first_turn == plain  # no history, nothing to quote
