"""The fuzzing campaign (bench/fuzz.py) in small: a few hundred hypothesis-generated requests
per gRPC method of intent, retrieval and inference, and WebSocket frames through the real
orchestrator. Only documented replies; no process exits; an ordinary session is undisturbed.
The 10,000-per-surface run is ``python -m bench.fuzz`` (bench/results/fuzz.json)."""

from __future__ import annotations

import grpc

from bench.fuzz import SERVICES, alive, fuzz_method, fuzz_ws, generate, message
from mangaassist.devtools.cluster import Cluster


def progress(_: str) -> None:
    pass


async def test_every_grpc_method_answers_generated_requests_with_documented_codes(cluster: Cluster) -> None:
    for name, service in SERVICES.items():
        async with grpc.aio.insecure_channel(cluster.address(name)) as channel:
            for method in service.methods:
                messages = generate(message(method.input_type), 120, seed_value=7)
                result = await fuzz_method(channel, service, method, messages, concurrency=8)
                assert result["cases"] == len(messages) >= 100
                assert result["undocumented"] == 0, result
    assert all(code is None for code in alive(cluster).values())


async def test_generated_frames_get_one_contract_reply_and_disturb_nobody(cluster: Cluster) -> None:
    result = await fuzz_ws(cluster, 300, connections=6, progress=progress)
    assert result["cases"] == 300 and result["undocumented"] == 0, result
    assert sum(result["replies"].values()) == 300
    assert result["canary"] and set(result["canary"]) == {"done"}, result["canary"]
    assert not result["exits"]
