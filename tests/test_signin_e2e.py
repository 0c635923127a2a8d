"""Ownership and PII through the real processes (the shared cluster: moto, Redis, the
Bedrock emulator, the four services, the trace receiver).

* An anonymous session belongs to the browser that started it: another connection that
  knows its id is refused; the same browser (its cookie) continues it.
* What the sessions table keeps of a turn has its e-mail addresses and phone numbers masked.
* PII scan: a conversation with an order number, an e-mail address and a phone number
  leaves none of them in any log line, exported span (attributes, events, names) or metric
  (labels) of the run.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request
import uuid

from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import Cluster
from tests.conftest import ask
from tests.test_accounts import ORDER, headers, stored_session


async def test_an_anonymous_session_cannot_be_continued_by_another_connection(cluster: Cluster) -> None:
    sid = f"s-anon-{uuid.uuid4().hex[:8]}"
    async with connect(cluster.ws_url) as first:
        cookie = first.response.headers["Set-Cookie"].split(";", 1)[0]
        assert (await ask(first, "こんにちは", request_id="a1", session_id=sid))[-1]["type"] == "done"
    await stored_session(cluster, sid, 1)
    async with connect(cluster.ws_url) as stranger:
        refused = (await ask(stranger, "hello", request_id="a2", session_id=sid))[-1]
        assert (refused["type"], refused["code"]) == ("error", "unauthorized")
    async with connect(cluster.ws_url, additional_headers=headers("cust-0002")) as signed_in:
        assert (await ask(signed_in, "hello", request_id="a3", session_id=sid))[-1]["code"] == "unauthorized"
    async with connect(cluster.ws_url, additional_headers={"Cookie": cookie}) as same_browser:
        assert (await ask(same_browser, "おすすめの冒険マンガは？", request_id="a4", session_id=sid))[-1][
            "type"
        ] == "done"
    stored = await stored_session(cluster, sid, 2)
    assert stored["version"]["N"] == "2" and stored["customer_id"]["S"].startswith("anon#")
    assert cookie.split("=", 1)[1] not in json.dumps(stored, default=repr)


def _marks() -> tuple[str, str, str]:
    """An e-mail address, a phone number and an order number no other test writes."""
    rnd = random.Random()
    email = f"pii.{uuid.uuid4().hex[:10]}@example.jp"
    phone = f"090-{rnd.randrange(1000, 9999)}-{rnd.randrange(1000, 9999)}"
    order = f"{rnd.randrange(100, 999)}-{rnd.randrange(10**6, 10**7)}-{rnd.randrange(10**6, 10**7)}"
    return email, phone, order


async def test_stored_turns_have_their_pii_masked(cluster: Cluster) -> None:
    email, phone, _ = _marks()
    sid = f"s-pii-{uuid.uuid4().hex[:8]}"
    async with connect(cluster.ws_url, additional_headers=headers("cust-0001")) as ws:
        text = f"連絡先は {email} と {phone} です。おすすめのファンタジー漫画は？"
        assert (await ask(ws, text, request_id="m1", session_id=sid))[-1]["type"] == "done"
    stored = json.dumps(await stored_session(cluster, sid, 1), ensure_ascii=False, default=repr)
    assert email not in stored and phone not in stored
    assert "連絡先は [email] と [phone] です。" in stored


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


async def test_pii_scan_no_log_line_span_or_metric_label_carries_customer_pii(cluster: Cluster) -> None:
    email, phone, order = _marks()
    full_width_phone = phone.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}).replace("-", "－")
    conversation = [
        f"注文 {order} はいつ届きますか？ 連絡先は {email} です",
        f"Where is my order {order}? Call me on {phone}.",
        f"電話番号は{full_width_phone}、メールは{email}。ワンピースの1巻はありますか？",
        f"My email is {email}; recommend a dark fantasy manga",
        f"注文 {ORDER} の状況を {email} に送ってください",  # a real order of this customer
    ]
    async with connect(cluster.ws_url, additional_headers=headers("cust-0001")) as ws:
        for n, text in enumerate(conversation):
            done = (await ask(ws, text, request_id=f"pii-{n}", session_id=f"s-scan-{order}"))[-1]
            assert done["type"] == "done", done
    async with connect(cluster.ws_url) as anonymous:
        assert (await ask(anonymous, f"order {order} / {email} / {phone}", request_id="pii-anon"))[-1]["type"] == "done"
    await asyncio.sleep(3)  # spans leave in batches of 0.5 s, metrics every 1 s, sessions after `done`

    assert cluster.log_dir is not None
    logs = {p.name: p.read_text(errors="replace") for p in sorted(cluster.log_dir.glob("*.log"))}
    assert {"orchestrator.log", "intent.log", "retrieval.log", "inference.log"} <= set(logs)
    spans = await asyncio.to_thread(_get, cluster.spans_url)
    metrics = await asyncio.to_thread(_get, cluster.metrics_url)
    assert '"pii-0"' in spans or "pii-0" in spans  # the run's spans are there to scan
    phone_digits = phone.replace("-", "")
    for secret in (email, phone, phone_digits, full_width_phone, order):
        for name, text in {**logs, "spans": spans, "metrics": metrics}.items():
            assert secret not in text, f"{secret!r} found in {name}"
