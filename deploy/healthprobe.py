"""Container health probe, the images' HEALTHCHECK (a small grpc_health_probe in Python).

    python /app/healthprobe.py grpc 127.0.0.1:50051            # SERVING -> exit 0, else 1
    python /app/healthprobe.py http http://127.0.0.1:8080/livez                # 200 -> exit 0
    python /app/healthprobe.py http http://127.0.0.1:8080/healthz --accept 200,503
    python /app/healthprobe.py tcp 127.0.0.1:8091             # something accepts connections

Why not the Go grpc_health_probe binary: it would be one more download that the offline
build cannot fetch, while every service image already has grpcio and grpc_health. The
gRPC services answer ``grpc.health.v1.Health/Check`` with their real status (NOT_SERVING
while starting or draining). The orchestrator speaks HTTP: ``/livez`` is its liveness (200
while the process can serve, whatever its downstreams say: what ECS and the load balancer
check), ``/healthz`` its readiness (200 only when every downstream is SERVING, 503
otherwise; ``--accept 200,503`` turns it into a liveness check too).
The ``tcp`` mode is for local stand-ins that have no health protocol of their own.
Exit codes follow Docker's convention: 0 healthy, 1 unhealthy.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request


def probe_grpc(target: str, service: str, timeout_s: float) -> tuple[bool, str]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            return False, f"{target}: {exc.code().name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{target}: {status}"


def probe_http(url: str, accept: set[int], timeout_s: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"
    return code in accept, f"{url}: HTTP {code}"


def split_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {target!r}")
    return host.strip("[]"), int(port)


def probe_tcp(target: str, timeout_s: float) -> tuple[bool, str]:
    host, port = split_target(target)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, f"{target}: accepts connections"
    except OSError as exc:
        return False, f"{target}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="gRPC / HTTP container health probe")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    sub = parser.add_subparsers(dest="kind", required=True)
    g = sub.add_parser("grpc", help="grpc.health.v1 Check")
    g.add_argument("target", help="host:port")
    g.add_argument("--service", default="", help="service name to check ('' = the whole server)")
    h = sub.add_parser("http", help="HTTP GET")
    h.add_argument("url")
    h.add_argument("--accept", default="200", help="comma-separated healthy status codes (default 200)")
    t = sub.add_parser("tcp", help="TCP connect")
    t.add_argument("target", help="host:port")
    args = parser.parse_args(argv)
    if args.kind in ("grpc", "tcp"):
        try:
            split_target(args.target)
        except ValueError as exc:
            parser.error(str(exc))
    if args.kind == "grpc":
        ok, detail = probe_grpc(args.target, args.service, args.timeout)
    elif args.kind == "tcp":
        ok, detail = probe_tcp(args.target, args.timeout)
    else:
        try:
            accept = {int(code) for code in args.accept.split(",") if code.strip()}
        except ValueError:
            parser.error(f"--accept must be comma-separated integers, got {args.accept!r}")
        ok, detail = probe_http(args.url, accept, args.timeout)
    print(("healthy " if ok else "unhealthy ") + detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
