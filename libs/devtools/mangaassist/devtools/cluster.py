"""Start the local MangaAssist cluster as real processes and stop it cleanly.

Used by ``make up`` (fixed default ports), by the integration tests and by the
benchmarks (ephemeral ports, logs in a temp dir). Each service is ``python -m
mangaassist.<svc>`` with its settings passed as environment variables.

With ``replicas=2`` (``make up REPLICAS=2``) every gRPC service runs as two processes,
``intent`` and ``intent-2`` and so on (with fixed ports the second replica listens 10
above the first: 50061, 50062, 50063). The orchestrator gets the list of a service's
addresses as its target and balances per call over them (round_robin); each retrieval
replica follows the others' change feeds (``MANGAASSIST_RETRIEVAL_PEERS``), so a stock
change made on one reaches every replica and, through any of them, the orchestrator.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2

from mangaassist.devtools.procs import stop_process
from mangaassist.devtools.redis_server import ping

GRPC_SERVICES = {
    "intent": "mangaassist.intent.v1.IntentService",
    "retrieval": "mangaassist.retrieval.v1.RetrievalService",
    "inference": "mangaassist.inference.v1.InferenceService",
}
DEFAULT_PORTS = {
    "intent": 50051,
    "retrieval": 50052,
    "inference": 50053,
    "aws": 8092,
    "traces": 4317,
    "traces_http": 4319,
    "redis": 8093,
    "orchestrator": 8080,
    "bedrock_emulator": 8091,
    "admin": 8081,  # the orchestrator's loopback-only /admin/* listener
}
# With fixed ports, replica n (n >= 2) of a gRPC service listens REPLICA_PORT_STEP * (n - 1) above the first.
REPLICA_PORT_STEP = 10
# Local stand-ins (for AWS parts and the collector): name -> (command, readiness URL path).
# "{port}" in a command is that stand-in's port.
STANDINS: dict[str, tuple[list[str], str]] = {
    "aws": (["{bin}/moto_server", "-H", "127.0.0.1", "-p", "{port}"], "/moto-api/data.json"),
    "traces": (["{python}", "-m", "mangaassist.devtools.trace_receiver"], "/healthz"),
    "redis": (["{python}", "-m", "mangaassist.devtools.redis_server", "{port}"], "PING"),
    "bedrock_emulator": (["{python}", "-m", "mangaassist.bedrock_emulator"], "/_emulator/health"),
}
# Not a secret: signs the demo customers' tokens of the local cluster only.
LOCAL_AUTH_SECRET = "local-development-only-not-a-secret"
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
}


def replica_name(service: str, n: int) -> str:
    """``intent`` for the first replica, ``intent-2`` for the second, …"""
    return service if n == 1 else f"{service}-{n}"


def service_of(name: str) -> str:
    """The service a process name runs (``retrieval-2`` → ``retrieval``)."""
    return name.split("-", 1)[0]


def free_port() -> int:
    """An ephemeral loopback port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def grpc_status(address: str, service: str, timeout: float = 0.5) -> str:
    """The health status name of ``service`` at ``address`` (``UNREACHABLE`` on error)."""
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply: health_pb2.HealthCheckResponse = check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return "UNREACHABLE"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def http_health(url: str, timeout: float = 1.0) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (OSError, ValueError):
        return 0, {}


@dataclass
class Cluster:
    """The four services as child processes.

    ``env`` adds settings for every process; ``ports`` pins ports (default: ephemeral);
    ``log_dir`` collects each process's output in ``<name>.log`` (default: inherit);
    ``replicas`` processes run each gRPC service.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] | None = None
    log_dir: Path | None = None
    replicas: int = 1
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)
    # Where a test or a bench reaches the cluster, fixed once the ports are: the chat's
    # WebSocket and health check, and the trace receiver's spans and metrics.
    ws_url: str = field(init=False)
    health_url: str = field(init=False)
    spans_url: str = field(init=False)
    metrics_url: str = field(init=False)

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.port = dict(self.ports) if self.ports else {name: free_port() for name in DEFAULT_PORTS}
        for svc in GRPC_SERVICES:
            for n in range(2, self.replicas + 1):
                name = replica_name(svc, n)
                if name not in self.port:
                    self.port[name] = self.port[svc] + REPLICA_PORT_STEP * (n - 1) if self.ports else free_port()
        orchestrator, traces = self.address("orchestrator"), self.address("traces_http")
        self.ws_url, self.health_url = f"ws://{orchestrator}/ws", f"http://{orchestrator}/healthz"
        self.spans_url, self.metrics_url = f"http://{traces}/spans", f"http://{traces}/metrics"

    def replica_names(self, service: str) -> list[str]:
        """The process names of one gRPC service's replicas (``["retrieval", "retrieval-2"]``)."""
        return [replica_name(service, n) for n in range(1, self.replicas + 1)]

    @property
    def grpc_processes(self) -> list[str]:
        return [name for svc in GRPC_SERVICES for name in self.replica_names(svc)]

    def target(self, service: str) -> str:
        """What a caller dials for ``service``: one address, or the replicas' as a comma-separated list."""
        return ",".join(self.address(name) for name in self.replica_names(service))

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.port[name]}"

    def _env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        prefix = f"MANGAASSIST_{service_of(name).upper()}_"
        env[prefix + "HOST"] = "127.0.0.1"
        env[prefix + "PORT"] = str(self.port[name])
        env.update(LOCAL_AWS_ENV)
        if name == "traces":
            env["MANGAASSIST_TRACES_PORT"] = str(self.port["traces"])
            env["MANGAASSIST_TRACES_HTTP_PORT"] = str(self.port["traces_http"])
        elif name not in STANDINS:
            # Every mesh process exports its spans and metrics to the local receiver (OTLP/gRPC).
            env.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{self.address('traces')}")
            env.setdefault("OTEL_EXPORTER_OTLP_INSECURE", "true")
            env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
            env.setdefault("OTEL_METRIC_EXPORT_INTERVAL", "1000")
        if name == "orchestrator":
            for svc in GRPC_SERVICES:
                env[f"{prefix}{svc.upper()}_TARGET"] = self.target(svc)
            env.setdefault(prefix + "DYNAMODB_ENDPOINT_URL", f"http://{self.address('aws')}")
            env.setdefault(prefix + "CREATE_TABLES", "true")
            env.setdefault(prefix + "SEED_ORDERS", "true")
            env.setdefault(prefix + "AUTH_SECRET", LOCAL_AUTH_SECRET)
            env.setdefault(prefix + "ADMIN_PORT", str(self.port["admin"]))
            env.setdefault(prefix + "REDIS_URL", f"redis://{self.address('redis')}/0")
            # Every local client is 127.0.0.1 and tests and benchmarks drive load from one
            # address: the per-address and per-connection limits are off here unless set.
            for limit in (
                "QUESTIONS_PER_MINUTE_PER_CONNECTION",
                "QUESTIONS_PER_MINUTE_PER_CUSTOMER",
                "QUESTIONS_PER_MINUTE_PER_IP",
                "MAX_CONNECTIONS_PER_IP",
            ):
                env.setdefault(prefix + limit, "0")
            # One BLAS thread: the in-process vector maths are tiny; threads only contend.
            env.setdefault("OPENBLAS_NUM_THREADS", "1")
        if service_of(name) == "retrieval" and self.replicas > 1:
            env[prefix + "PEERS"] = ",".join(self.address(r) for r in self.replica_names("retrieval") if r != name)
        if service_of(name) == "inference":
            # An explicit setting (even empty: real Bedrock) wins over the local emulator.
            env.setdefault(prefix + "BEDROCK_ENDPOINT_URL", self.url("bedrock_emulator"))
        return env

    def url(self, name: str) -> str:
        """Base HTTP URL of a stand-in (e.g. the Bedrock emulator)."""
        return f"http://{self.address(name)}"

    def spawn(self, name: str, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start (or restart) one service process, optionally with extra settings."""
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{name}.log").open("ab")
            self._logs.append(out)
        if name in STANDINS:
            fill = {"bin": str(Path(sys.executable).parent), "python": sys.executable, "port": str(self.port[name])}
            command = [part.format(**fill) for part in STANDINS[name][0]]
        else:
            command = [sys.executable, "-m", f"mangaassist.{service_of(name)}"]
        proc = subprocess.Popen(
            command,
            env={**self._env(name), **(extra_env or {})},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
        self.procs[name] = proc
        return proc

    def wait_serving(self, name: str, timeout: float = 600.0) -> None:
        """Block until ``name`` reports SERVING (or its process dies / time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while starting{self._tail(name)}")
            if self.is_serving(name):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{name} did not become healthy in {timeout:.0f}s{self._tail(name)}")

    def is_serving(self, name: str) -> bool:
        """One health probe of ``name`` (the orchestrator: its readiness, so every downstream)."""
        if name == "orchestrator":
            return http_health(self.health_url)[0] == 200
        if name == "redis":
            return ping("127.0.0.1", self.port[name])
        if name in STANDINS:
            port = self.port["traces_http"] if name == "traces" else self.port[name]
            return http_health(f"http://127.0.0.1:{port}{STANDINS[name][1]}")[0] == 200
        return grpc_status(self.address(name), GRPC_SERVICES[service_of(name)]) == "SERVING"

    def _tail(self, name: str) -> str:
        if self.log_dir is None:
            return ""
        path = self.log_dir / f"{name}.log"
        lines = path.read_text(errors="replace").splitlines()[-15:] if path.exists() else []
        return "\n" + "\n".join(lines)

    def start(self, timeout: float = 600.0) -> Cluster:
        try:
            # Inference pre-warms against the Bedrock emulator, so it starts once that is up.
            # The other retrieval replicas start once the first is serving: it builds and saves the
            # catalog index on a first run, which they then load instead of embedding it again.
            later = [*self.replica_names("inference"), *self.replica_names("retrieval")[1:]]
            for name in [*STANDINS, *(p for p in self.grpc_processes if p not in later)]:
                self.spawn(name)
            self.wait_serving("bedrock_emulator", timeout)
            for name in self.replica_names("inference"):
                self.spawn(name)
            if self.replicas > 1:
                self.wait_serving("retrieval", timeout)
                for name in self.replica_names("retrieval")[1:]:
                    self.spawn(name)
            for name in STANDINS:
                self.wait_serving(name, timeout)
            self.spawn("orchestrator")
            for name in [*self.grpc_processes, "orchestrator"]:
                self.wait_serving(name, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def terminate(self, name: str, timeout: float = 20.0) -> int:
        """SIGTERM one process and wait for it; SIGKILL if it will not stop."""
        return stop_process(self.procs[name], timeout)

    def stop(self) -> dict[str, int]:
        """Stop everything: orchestrator first (it drains), then the services."""
        codes = {}
        for name in ["orchestrator", *self.grpc_processes, *STANDINS]:
            if name in self.procs:
                codes[name] = self.terminate(name)
        for fh in self._logs:
            fh.close()
        self._logs.clear()
        return codes

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
