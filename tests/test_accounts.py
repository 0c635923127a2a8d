"""Signed-in customers over the real WebSocket: orders answered only to their owner,
sessions persisted in DynamoDB (moto) and closed to other customers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import boto3
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import LOCAL_AUTH_SECRET, LOCAL_AWS_ENV, Cluster
from mangaassist.orchestrator.auth import issue_token
from tests.conftest import ask

ORDER = "249-1234567-7654321"  # a shipped order of cust-0001 in the seeded sample


def headers(customer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(LOCAL_AUTH_SECRET, customer)}"}


async def stored_session(cluster: Cluster, sid: str, version: int) -> dict[str, Any]:
    """The session item once ``version`` turns have landed (updates follow each `done`)."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{cluster.address('aws')}",
        region_name=LOCAL_AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    item: dict[str, Any] = {}
    for _ in range(50):
        item = client.get_item(
            TableName="mangaassist-sessions", Key={"session_id": {"S": sid}}, ConsistentRead=True
        ).get("Item", {})
        if item.get("version", {}).get("N") == str(version):
            break
        await asyncio.sleep(0.1)
    return item


def answer(frames: list[dict[str, object]]) -> str:
    return "".join(str(f["text"]) for f in frames if f["type"] == "token")


async def test_order_status_is_answered_from_the_orders_table_for_its_owner(cluster: Cluster) -> None:
    async with connect(cluster.ws_url, additional_headers=headers("cust-0001")) as ws:
        frames = await ask(ws, f"注文 {ORDER} はいつ届きますか？", request_id="o1")
        done = frames[-1]
        assert done["type"] == "done" and done["intent"] == "order_status" and done["model"] == "none"
        text = answer(frames)
        assert "発送済み" in text and "4821-9932-1076" in text
        en = await ask(ws, f"Where is my order {ORDER}?", request_id="o2")
        assert "has shipped" in answer(en)


async def test_other_customers_and_anonymous_get_the_unknown_order_reply(cluster: Cluster) -> None:
    replies = []
    for extra in (headers("cust-0002"), None):
        async with connect(cluster.ws_url, additional_headers=extra) as ws:
            replies.append(answer(await ask(ws, f"Where is my order {ORDER}?", request_id="o")))
    async with connect(cluster.ws_url, additional_headers=headers("cust-0002")) as ws:
        unknown = answer(await ask(ws, "Where is my order 111-1111111-1111111?", request_id="u"))
    assert replies[0] == replies[1] == unknown.replace("111-1111111-1111111", ORDER)
    assert "4821" not in replies[0]


async def test_an_invalid_token_gets_unauthorized_for_every_query(cluster: Cluster) -> None:
    async with connect(cluster.ws_url, additional_headers={"Authorization": "Bearer forged"}) as ws:
        for rid in ("a", "b"):
            frames = await ask(ws, "hello", request_id=rid)
            assert frames == [frames[-1]] and frames[-1]["code"] == "unauthorized"
            assert frames[-1]["retryable"] is False


async def test_sessions_persist_in_dynamodb_and_stay_private(cluster: Cluster) -> None:
    sid = "s-private-test"
    async with connect(cluster.ws_url, additional_headers=headers("cust-0003")) as ws:
        assert (await ask(ws, "こんにちは", request_id="p1", session_id=sid))[-1]["type"] == "done"
        assert (await ask(ws, "おすすめの冒険マンガは？", request_id="p2", session_id=sid))[-1]["type"] == "done"
    async with connect(cluster.ws_url, additional_headers=headers("cust-0002")) as ws:
        frames = await ask(ws, "hello", request_id="p3", session_id=sid)
        assert frames[-1]["code"] == "unauthorized"
    async with connect(cluster.ws_url) as ws:  # anonymous
        assert (await ask(ws, "hello", request_id="p4", session_id=sid))[-1]["code"] == "unauthorized"

    stored = await stored_session(cluster, sid, 2)
    assert stored["customer_id"]["S"] == "cust-0003" and stored["version"]["N"] == "2"
    assert [t["M"]["t"]["S"] for t in stored["turns"]["L"]][0::2] == ["こんにちは", "おすすめの冒険マンガは？"]
    assert json.dumps(stored, ensure_ascii=False, default=repr).count("cust-0002") == 0


async def test_conversation_cost_adds_up_across_turns_and_is_stored(cluster: Cluster) -> None:
    sid = "s-cost-test"
    async with connect(cluster.ws_url, additional_headers=headers("cust-0001")) as ws:
        first = (await ask(ws, "おすすめの歴史マンガは？武将が出てくるもの", request_id="k1", session_id=sid))[-1]
        await stored_session(cluster, sid, 1)  # the first turn has landed (updates follow `done`)
        second = (await ask(ws, "Recommend a cooking manga set in a restaurant", request_id="k2", session_id=sid))[-1]
    assert first["cache_hit"] is False and second["cache_hit"] is False
    one, two = first["usage"], second["usage"]
    assert one["cost_usd"] > 0 and one["conversation_cost_usd"] == one["cost_usd"]
    assert abs(two["conversation_cost_usd"] - (one["cost_usd"] + two["cost_usd"])) < 1e-6
    item = {"Item": await stored_session(cluster, sid, 2)}
    assert item["Item"]["version"]["N"] == "2"
    assert abs(float(item["Item"]["cost_usd"]["N"]) - two["conversation_cost_usd"]) < 1e-6
