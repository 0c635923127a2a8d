"""The service's health follows whether its model endpoint can be reached.

While the model behind this service is unreachable (the emulator killed, Bedrock's endpoint
refusing or dropping connections), every answer fails; health still said SERVING, so the
orchestrator's model breakers kept their full cool-down after the model came back. Now:

* A **connection-level failure** of a model call (refused, reset, closed, no TCP or TLS
  connection within the connect timeout, a stream cut by its connection) makes the service
  *suspect* the endpoint: one probe runs at once. An answer from the model side (any HTTP
  reply: a validation error, throttling, a 5xx) is never a connection failure.
* The **probe** is a TCP connect to the endpoint's host and port, plus the TLS handshake
  for ``https`` endpoints, bounded by ``probe_timeout_s``. It sends no request: it costs
  nothing on Bedrock's bill and carries no customer text.
* Probe fails → **NOT_SERVING**, and the probe repeats every ``interval_s`` (± ``jitter``
  of it, so replicas do not probe in step). The first probe that connects → **SERVING**.
* Any **successful model call** (the model side answered) → SERVING at once and the
  probing stops.

No flapping on a single error: a lone reset on a stale pooled connection while the
endpoint is fine is followed by a probe that connects, so health never leaves SERVING; it
turns NOT_SERVING only when a failed call *and* a failed probe agree. Only the service's
own name (``mangaassist.inference.v1.InferenceService``, what the orchestrator reads) follows
the model: the whole server's status (``""``, the container health check's) stays the
process's liveness, so a Bedrock outage does not make ECS replace healthy tasks.

Limit: the probe connects directly, so behind an HTTPS proxy it checks the endpoint, not
the proxy path the SDK takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urlparse

import aiohttp
from botocore.exceptions import ConnectionClosedError, ResponseStreamingError
from botocore.exceptions import ConnectionError as BotoConnectionError

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]
Publish = Callable[[bool], Awaitable[None]]  # True: SERVING, False: NOT_SERVING

# Failures of the connection, not answers of the model: botocore's ConnectionError covers
# EndpointConnectionError (refused, DNS), ConnectTimeoutError, SSLError and proxy errors;
# ConnectionClosedError a reset or a peer that went away; ResponseStreamingError and
# aiohttp's connection errors a stream cut mid-way. A read timeout is not one of them (the
# endpoint connected and is slow: the model's business, not reachability).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    BotoConnectionError,
    ConnectionClosedError,
    ResponseStreamingError,
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    ConnectionError,
)


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the endpoint could not be reached (or dropped the connection)."""
    if isinstance(exc, aiohttp.ServerTimeoutError):  # a read timeout, despite its base class
        return False
    return isinstance(exc, CONNECTION_ERRORS)


def endpoint_probe(url: str, timeout_s: float) -> Probe:
    """A probe of ``url``'s host and port: TCP connect, and the TLS handshake for https."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    secure = parsed.scheme == "https"
    port = parsed.port or (443 if secure else 80)
    context = ssl.create_default_context() if secure else None

    async def probe() -> bool:
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if secure else None
                )
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(timeout_s):
                        await writer.wait_closed()
        return True

    return probe


class Reachability:
    """SERVING / NOT_SERVING of the model endpoint, driven by calls and probes (see the module).

    ``succeeded`` and ``failed`` are called by the backend on every model call's outcome;
    they never block. Nothing is published before ``report_to`` (the server's health must
    first turn SERVING after the warm-up); from then on every change is published, in order.
    """

    def __init__(
        self,
        probe: Probe,
        *,
        interval_s: float = 0.5,
        jitter: float = 0.2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._probe = probe
        self._interval = interval_s
        self._jitter = jitter
        self._sleep = sleep
        self._rand = rand
        self.reachable = True
        self.probes = 0  # probes run (for tests and the admin view)
        self._checking: asyncio.Task[None] | None = None
        self._publish: Publish | None = None
        self._published = True  # what the health service says (SERVING once the server serves)
        self._reporter: asyncio.Task[None] | None = None

    @property
    def checking(self) -> bool:
        return self._checking is not None and not self._checking.done()

    def succeeded(self) -> None:
        """The model side answered: reachable, stop probing."""
        if self.checking:
            assert self._checking is not None
            self._checking.cancel()
        self._set(True)

    def failed(self, exc: BaseException | None = None) -> None:
        """A model call failed; a connection-level failure starts the probes (if not running)."""
        if exc is not None and not is_connection_failure(exc):
            return
        if not self.checking:
            # A fresh context: the probes outlive the call that failed (no trace id of its own).
            self._checking = asyncio.get_running_loop().create_task(self._check(), context=contextvars.Context())

    async def _check(self) -> None:
        while True:
            self.probes += 1
            if await self._probe():
                self._set(True)
                return
            self._set(False)
            await self._sleep(self._interval * (1 + self._jitter * (2 * self._rand() - 1)))

    def _set(self, reachable: bool) -> None:
        if reachable == self.reachable:
            return
        self.reachable = reachable
        if reachable:
            logger.info("model endpoint reachable again: SERVING")
        else:
            logger.warning("model endpoint unreachable: NOT_SERVING until a probe connects")
        self._report()

    def report_to(self, publish: Publish) -> None:
        """Publish every change from now on (and the current state if it differs)."""
        self._publish = publish
        self._report()

    def _report(self) -> None:
        if self._publish is not None and (self._reporter is None or self._reporter.done()):
            self._reporter = asyncio.get_running_loop().create_task(
                self._report_latest(), context=contextvars.Context()
            )

    async def _report_latest(self) -> None:
        assert self._publish is not None
        while self._published != self.reachable:
            value = self.reachable
            await self._publish(value)
            self._published = value

    async def close(self) -> None:
        for task in (self._checking, self._reporter):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
