"""The service's health follows whether its model endpoint answers.

While the model behind this service cannot be reached (the emulator killed, Bedrock's endpoint
refusing or dropping connections) or accepts connections but never answers (the emulator
stopped with SIGSTOP: the kernel still completes the TCP handshake), every answer fails or
waits; health still said SERVING, so the orchestrator's model breakers kept their full
cool-down after the model came back. Now:

* A **connection-level failure** of a model call (refused, reset, closed, no TCP or TLS
  connection within the connect timeout, a stream cut by its connection) makes the service
  *suspect* the endpoint: one probe runs at once. An answer from the model side (any HTTP
  reply: a validation error, throttling, a 5xx) is never a connection failure.
* **Silence** makes it suspect the endpoint too: while model calls are waiting, nothing heard
  from the endpoint (no response, no stream event of any call) for ``stall_s`` starts a probe,
  and another every ``stall_s`` the silence lasts. A slow first token alone is not a failure:
  it only asks the probe.
* The **probe** asks the endpoint's HTTP front door: a TCP connect (plus the TLS handshake for
  ``https``), one ``GET /`` and its status line, all within ``probe_timeout_s``. Any status
  line is an answer (an AWS front door answers an unsigned GET with an error status): it
  calls no model, costs nothing on Bedrock's bill and carries no customer text, and a
  stopped endpoint, which accepts the connection and never replies, fails it.
* ``confirm`` probes in a row fail (the second at once after the first), and nothing was
  heard from the endpoint since the first began → **NOT_SERVING**, and the probe repeats
  every ``interval_s`` (± ``jitter`` of it, so replicas do not probe in step). The first
  probe that gets an answer → **SERVING**. A refused endpoint fails both in milliseconds;
  a silent one takes ``stall_s`` + ``confirm`` × ``probe_timeout_s`` (3 s by default).
* Anything **heard from the model side** (a call answered, a stream event) → SERVING at once
  and the probing stops.

No flapping: health turns NOT_SERVING only when a failed call or a silence *and* failed
probes agree, with no byte from the endpoint in between; a lone reset on a stale pooled
connection, or a model slow to its first token, is followed by a probe that is answered, so
health never leaves SERVING. On a starved box (this process not run for a while: its
timers fire late) a silence or a timed-out probe says nothing about the endpoint: a look
or a probe that ended more than ``stall_s / 2`` late is not counted, and one unanswered
probe alone is not enough (decision 0009: a soak on the shared box flapped with one). The silence watch costs a timestamp per stream event and one
timer a ``stall_s`` while calls are waiting; probes run only on suspicion, one at a time.
Only the service's own name (``mangaassist.inference.v1.InferenceService``, what the
orchestrator reads) follows the model: the whole server's status (``""``, the container
health check's) stays the process's liveness, so a Bedrock outage does not make ECS replace
healthy tasks.

Limits: the probe connects directly, so behind an HTTPS proxy it checks the endpoint, not
the proxy path the SDK takes; silence is seen only while calls wait, so an idle service
keeps SERVING until the next question; and any status counts, so a front door that answers
while the model behind it hangs is not seen (the silence keeps asking the probe).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
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
    """A probe of ``url``'s HTTP front door: connect (TLS for https), ``GET /``, read the
    status line; True when one came within ``timeout_s`` (whatever the status)."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    secure = parsed.scheme == "https"
    port = parsed.port or (443 if secure else 80)
    context = ssl.create_default_context() if secure else None
    bracketed = f"[{host}]" if ":" in host else host  # an IPv6 literal
    authority = bracketed if parsed.port is None else f"{bracketed}:{port}"
    request = (
        f"GET / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: mangaassist-reachability\r\nConnection: close\r\n\r\n"
    ).encode()

    async def probe() -> bool:
        writer: asyncio.StreamWriter | None = None
        answered = False
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=host if secure else None
                )
                writer.write(request)
                await writer.drain()
                answered = (await reader.readline()).startswith(b"HTTP/")
        except (OSError, TimeoutError, ssl.SSLError, ValueError):
            return False
        finally:
            if writer is not None:
                if answered:
                    writer.close()
                else:
                    writer.transport.abort()  # a silent peer gets no polite close to wait on
        return answered

    return probe


@dataclass(eq=False)
class Reachability:
    """SERVING / NOT_SERVING of the model endpoint, driven by calls, silences and probes (see
    the module).

    The backend reports every model call: ``call_started`` / ``call_ended`` around it,
    ``heard`` for each byte-carrying event of its stream, ``succeeded`` when the model side
    answered, ``failed`` when it did not; none of them blocks. Nothing is published before
    ``report_to`` (the server's health must first turn SERVING after the warm-up); from then
    on every change is published, in order.
    """

    probe: Probe
    _: KW_ONLY
    interval_s: float = 0.5
    stall_s: float = 1.0
    probe_timeout_s: float = 1.0
    confirm: int = 2
    jitter: float = 0.2
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rand: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    reachable: bool = field(default=True, init=False)
    probes: int = field(default=0, init=False)  # probes run (for tests and the admin view)
    silences: int = field(default=0, init=False)  # silences that started a probe (for tests and the admin view)
    _checking: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _publish: Publish | None = field(default=None, init=False, repr=False)
    # What the health service says (SERVING once the server serves).
    _published: bool = field(default=True, init=False, repr=False)
    _reporter: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _waiting: int = field(default=0, init=False, repr=False)  # model calls in flight
    # When the calls in flight started to be more than none.
    _busy_since: float = field(default=0.0, init=False, repr=False)
    # When the endpoint last sent anything (a response, a stream event).
    _heard: float = field(default=0.0, init=False, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _due: float = field(default=0.0, init=False, repr=False)  # when the timer should fire

    @property
    def checking(self) -> bool:
        return self._checking is not None and not self._checking.done()

    def call_started(self) -> None:
        """A model call was sent; while any waits, a silence of ``stall_s`` starts the probes."""
        if self._waiting == 0:
            self._busy_since = self.clock()
        self._waiting += 1
        if self._timer is None:
            self._arm(self.stall_s)

    def call_ended(self) -> None:
        self._waiting -= 1

    def heard(self) -> None:
        """The endpoint sent something (a stream event): it answers."""
        self._heard = self.clock()
        if not self.reachable:
            self.succeeded()

    def succeeded(self) -> None:
        """The model side answered: reachable, stop probing."""
        self._heard = self.clock()
        if self.checking:
            assert self._checking is not None
            self._checking.cancel()
        self._set(True)

    def failed(self, exc: BaseException | None = None) -> None:
        """A model call failed; a connection-level failure starts the probes (if not running)."""
        if exc is not None and not is_connection_failure(exc):
            return
        self._suspect()

    def look(self, late_s: float = 0.0) -> float | None:
        """The silence check (a timer runs it while calls wait; tests call it directly): when
        calls have waited ``stall_s`` with nothing heard from the endpoint, the probes start.
        ``late_s``: how late the timer fired; this process starved that long may simply not
        have read what the endpoint sent, so a late look only looks again soon. Returns the
        seconds until the next look, or None when no call waits."""
        if self._waiting <= 0:
            return None
        if late_s > self.stall_s / 2:
            return 0.1  # after a round of the loop's I/O
        quiet = self.clock() - max(self._heard, self._busy_since)
        if quiet < self.stall_s:
            return self.stall_s - quiet
        if not self.checking:
            self.silences += 1
            logger.debug("model endpoint silent while calls wait: probing", extra={"quiet_s": round(quiet, 2)})
        self._suspect()
        return self.stall_s

    def _arm(self, delay: float) -> None:
        self._due = self.clock() + delay
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        delay = self.look(late_s=self.clock() - self._due)
        if delay is not None:
            self._arm(delay)

    def _suspect(self) -> None:
        if not self.checking:
            # A fresh context: the probes outlive the call that failed (no trace id of its own).
            self._checking = asyncio.get_running_loop().create_task(self._check(), context=contextvars.Context())

    async def _check(self) -> None:
        since = self.clock()
        misses = 0
        while True:
            self.probes += 1
            started = self.clock()
            # Anything heard from the endpoint since the probes began outweighs them.
            if await self.probe() or self._heard > since:
                self._set(True)
                return
            if self.clock() - started > self.probe_timeout_s + self.stall_s / 2:
                continue  # this process was not run in time: the timeout says nothing of the endpoint
            misses += 1
            if misses < self.confirm:
                continue  # once more, at once
            self._set(False)
            await self.sleep(self.interval_s * (1 + self.jitter * (2 * self.rand() - 1)))

    def _set(self, reachable: bool) -> None:
        if reachable == self.reachable:
            return
        self.reachable = reachable
        if reachable:
            logger.info("model endpoint reachable again: SERVING")
        else:
            logger.warning("model endpoint unreachable or silent: NOT_SERVING until a probe is answered")
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in (self._checking, self._reporter):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
