"""Limits at the front door: questions per minute, connections, and which pages may connect.

* **Questions** — token buckets (aiolimiter's leaky bucket: a burst of up to the rate, then
  the rate) per connection, per signed-in customer and per source IP. A question over any
  of them is answered ``rate_limited`` with ``retry_after_s``, the time one token takes to
  come back; a refused question takes no token from the other buckets. ``0`` turns a
  bucket off. Buckets for customers and addresses are kept for the most recent
  ``max_keys`` of each (a forgotten one starts full again).
* **Connections** — at most ``max_connections`` per process and ``max_connections_per_ip``
  per source address; past either, the handshake is refused (503 / 429).
* **Origin** — a browser always says which page opened the socket. Only pages of this
  server (``Origin`` host = ``Host``) and the configured origins may connect, so no other
  site can open a customer's socket with their cookies or token; clients that are not
  browsers send no ``Origin`` and are allowed.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiolimiter import AsyncLimiter

from mangaassist.orchestrator.config import OrchestratorSettings

PERIOD_S = 60.0


def _bucket(per_minute: int) -> AsyncLimiter | None:
    return AsyncLimiter(per_minute, PERIOD_S) if per_minute > 0 else None


class _Buckets:
    """One bucket per key, for the most recently used ``max_keys`` keys."""

    def __init__(self, per_minute: int, max_keys: int) -> None:
        self._per_minute = per_minute
        self._max_keys = max_keys
        self._by_key: OrderedDict[str, AsyncLimiter] = OrderedDict()

    def get(self, key: str | None) -> AsyncLimiter | None:
        if key is None or self._per_minute <= 0:
            return None
        bucket = self._by_key.pop(key, None) or AsyncLimiter(self._per_minute, PERIOD_S)
        self._by_key[key] = bucket
        while len(self._by_key) > self._max_keys:
            self._by_key.popitem(last=False)
        return bucket

    def __len__(self) -> int:
        return len(self._by_key)


class QuestionLimits:
    def __init__(self, per_connection: int, per_customer: int, per_ip: int, max_keys: int = 10_000) -> None:
        self._per_connection = per_connection
        self._customers = _Buckets(per_customer, max_keys)
        self._addresses = _Buckets(per_ip, max_keys)

    @classmethod
    def from_settings(cls, s: OrchestratorSettings) -> QuestionLimits:
        return cls(
            s.questions_per_minute_per_connection, s.questions_per_minute_per_customer, s.questions_per_minute_per_ip
        )

    def connection_bucket(self) -> AsyncLimiter | None:
        """A fresh bucket for one new connection (``None`` when that limit is off)."""
        return _bucket(self._per_connection)

    async def admit(self, connection: AsyncLimiter | None, customer_id: str | None, ip: str | None) -> float | None:
        """Take one token from each bucket that applies; ``None`` when admitted, else the
        seconds to wait (and no token is taken)."""
        buckets = [b for b in (connection, self._customers.get(customer_id), self._addresses.get(ip)) if b]
        full = [b for b in buckets if not b.has_capacity()]
        if full:
            # A bucket that has no room gets one token back every period / rate seconds.
            return round(max(b.time_period / b.max_rate for b in full), 3)
        for bucket in buckets:
            await bucket.acquire()  # has capacity: returns without waiting
        return None


class ConnectionLimits:
    """Open connections, per process and per source address."""

    def __init__(self, max_connections: int, max_per_ip: int) -> None:
        self.max_connections = max_connections
        self.max_per_ip = max_per_ip
        self.open = 0
        self._by_ip: Counter[str] = Counter()

    def refusal(self, ip: str | None) -> str | None:
        """Why a new connection from ``ip`` is refused now, or ``None``."""
        if self.max_connections and self.open >= self.max_connections:
            return "process"
        if self.max_per_ip and ip is not None and self._by_ip[ip] >= self.max_per_ip:
            return "ip"
        return None

    def opened(self, ip: str | None) -> None:
        self.open += 1
        if ip is not None:
            self._by_ip[ip] += 1

    def closed(self, ip: str | None) -> None:
        self.open -= 1
        if ip is not None:
            self._by_ip[ip] -= 1
            if self._by_ip[ip] <= 0:
                del self._by_ip[ip]


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """No ``Origin`` (not a browser), this server's own pages, or a configured origin (``*``: any)."""
    if origin is None:
        return True
    allowed = list(allowed)
    if "*" in allowed or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()
