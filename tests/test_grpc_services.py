"""Each gRPC service: reflection for grpcurl, real health, graceful drain on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from mangaassist.devtools.cluster import Cluster, free_port, grpc_status
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
GRPCURL = REPO / ".tools" / "grpcurl"


def grpcurl(*args: str) -> str:
    assert GRPCURL.exists(), "run `make tools` (make test does) to fetch grpcurl"
    out = subprocess.run([str(GRPCURL), "-plaintext", *args], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_grpcurl_lists_every_service_and_calls_classify(cluster: Cluster) -> None:
    expected = {
        "intent": "mangaassist.intent.v1.IntentService",
        "retrieval": "mangaassist.retrieval.v1.RetrievalService",
        "inference": "mangaassist.inference.v1.InferenceService",
    }
    for name, service in expected.items():
        listed = grpcurl(cluster.address(name), "list").split()
        assert service in listed and "grpc.health.v1.Health" in listed
    reply = json.loads(
        grpcurl(
            "-d",
            json.dumps({"text": "Where is my order 123-4567890-1234567?"}),
            cluster.address("intent"),
            "mangaassist.intent.v1.IntentService/Classify",
        )
    )
    assert reply["intent"] == "order_status"
    assert reply["routing"]["route"] == "ROUTE_NONE" and reply["routing"]["reason"]
    assert len(reply["scores"]) == 11
    health = json.loads(
        grpcurl(
            "-d",
            '{"service": "mangaassist.retrieval.v1.RetrievalService"}',
            cluster.address("retrieval"),
            "grpc.health.v1.Health/Check",
        )
    )
    assert health["status"] == "SERVING"


def test_inference_drains_on_sigterm(tmp_path: Path) -> None:
    """NOT_SERVING at once, the in-flight stream still completes, exit status 0."""
    port, emulator_port = free_port(), free_port()
    log = (tmp_path / "inference.log").open("wb")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "mangaassist.bedrock_emulator"],
        stdout=log,
        stderr=log,
        env=dict(
            os.environ,
            MANGAASSIST_BEDROCK_EMULATOR_PORT=str(emulator_port),
            MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS="30",
        ),
    )
    env = dict(
        os.environ,
        MANGAASSIST_INFERENCE_PORT=str(port),
        MANGAASSIST_INFERENCE_BEDROCK_ENDPOINT_URL=f"http://127.0.0.1:{emulator_port}",
    )
    proc = subprocess.Popen([sys.executable, "-m", "mangaassist.inference"], env=env, stdout=log, stderr=log)
    address, service = f"127.0.0.1:{port}", "mangaassist.inference.v1.InferenceService"
    try:
        deadline = time.monotonic() + 30
        while grpc_status(address, service) != "SERVING":
            assert time.monotonic() < deadline and proc.poll() is None, "inference did not start"
            time.sleep(0.05)
        with grpc.insecure_channel(address) as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            stream = stub.Generate(
                inference_pb2.GenerateRequest(
                    model="haiku",
                    prompt=inference_pb2.PromptParts(
                        question="shipping?", language="en", documents=["Shipping is free over ¥3,000."]
                    ),
                ),
                timeout=20,
            )
            first = next(stream)
            assert first.HasField("token")
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.1)
            assert grpc_status(address, service) == "NOT_SERVING"
            rest = list(stream)
        assert rest[-2].HasField("done") and rest[-2].done.finish_reason == "end_turn"
        assert rest[-1].HasField("guardrail") and not rest[-1].guardrail.flagged
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        emulator.terminate()
        emulator.wait(10)
        log.close()


def test_retrieval_returns_only_requested_fields_and_rejects_bad_filters(cluster: Cluster) -> None:
    from mangaassist.proto.common.v1 import common_pb2
    from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

    with grpc.insecure_channel(cluster.address("retrieval")) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        reply = stub.Search(
            retrieval_pb2.SearchRequest(
                query="volleyball",
                k=3,
                fields=["asin", "price_jpy"],
                filters=common_pb2.SearchFilters(max_price_jpy=900, in_stock=True),
            ),
            timeout=10,
        )
        assert 1 <= len(reply.results) <= 3 and len(reply.query_embedding) == 384
        for hit in reply.results:
            assert hit.product.asin and hit.product.price_jpy <= 900
            assert [f.name for f, _ in hit.product.ListFields()] == ["asin", "price_jpy"]
        for bad in (
            retrieval_pb2.SearchRequest(query="x", fields=["password"]),
            retrieval_pb2.SearchRequest(query="x", filters=common_pb2.SearchFilters(genres=["cats"])),
            retrieval_pb2.SearchRequest(query="x", filters=common_pb2.SearchFilters(min_price_jpy=9, max_price_jpy=1)),
            retrieval_pb2.SearchRequest(query="   "),
            retrieval_pb2.SearchRequest(query="x", k=1000),
        ):
            try:
                stub.Search(bad, timeout=10)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, bad  # type: ignore[attr-defined]
            else:
                raise AssertionError(f"accepted {bad}")
