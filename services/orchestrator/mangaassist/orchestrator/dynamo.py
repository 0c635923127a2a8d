"""DynamoDB access: the sessions table, the orders table, their setup.

One long-lived client per process (pool of 25 connections, 1 s connect / 3 s read
timeouts, 3 attempts with exponential backoff — the DynamoDB pool row of decision 0008), created at
start and closed at stop. Locally it points at a moto server; in AWS at the regional endpoint
(or the VPC gateway endpoint) through the standard credential chain.

Two clients behind one small interface (``get_item`` / ``put_item`` / ``call``), chosen by
``OrchestratorSettings.dynamodb_client`` (decision 0010):

* ``AiodynamoClient`` — aiodynamo over one keep-alive aiohttp session: signs and retries
  without botocore's per-call machinery (serialise, validate, event hooks, parse);
* ``DynamoClient`` — aioboto3 (botocore).

Both raise botocore's exceptions (``ClientError`` with the DynamoDB error code,
``EndpointConnectionError``, ``ReadTimeoutError``, ``NoCredentialsError``), so the stores,
``is_permanent``, the breaker and the contract errors see the same failures from either.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiodynamo import errors as dynamo_errors
from aiodynamo.client import Client as _AiodynamoBase
from aiodynamo.credentials import Credentials
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.http.types import Request as HttpRequest
from aiodynamo.http.types import RequestFailed
from aiodynamo.http.types import Response as HttpResponse
from aiodynamo.models import ExponentialBackoffRetry, RetryTimeout
from aiodynamo.utils import dy2py, py2dy
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore import xform_name
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from yarl import URL

from mangaassist.common.pools import (
    SEED_POOLS,
    Pool,
    PoolStats,
    aiobotocore_idle,
    aiohttp_idle,
    aiohttp_tracing,
    measured_http_session,
)
from mangaassist.common.telemetry import trace_aws_client
from mangaassist.orchestrator.sessions import Session, SessionOwnershipError, Turn

logger = logging.getLogger(__name__)
T = TypeVar("T")

_SER = TypeSerializer()
_DES = TypeDeserializer()
APPEND_ATTEMPTS = 8


def _to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in data.items() if v is not None}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DES.deserialize(v) for k, v in item.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# DynamoDB errors that no retry can fix: who we are, what we asked for, or a missing table.
PERMANENT_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "ExpiredTokenException",
        "ResourceNotFoundException",
        "ValidationException",
        "SerializationException",
    }
)


def is_permanent(exc: BaseException) -> bool:
    """A DynamoDB failure that retrying cannot fix (it fails at once and is counted)."""
    if isinstance(exc, ClientError):
        return _code(exc) in PERMANENT_CODES
    return isinstance(exc, NoCredentialsError | ParamValidationError)


def load_orders(path: Path) -> list[dict[str, Any]]:
    """The sample orders file (a JSON list of order items)."""
    orders: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return orders


SEED = SEED_POOLS["dynamodb"]
SERVICE = "DynamoDB"


def _condition(absent: str | None, expected: tuple[str, int] | None) -> dict[str, Any]:
    """The conditional write's expression: the item must not exist yet, or carry ``expected``."""
    if absent is not None:
        return {"ConditionExpression": f"attribute_not_exists({absent})"}
    if expected is not None:
        name, value = expected
        return {"ConditionExpression": f"{name} = :v", "ExpressionAttributeValues": {":v": {"N": str(value)}}}
    return {}


class TableOptions(TypedDict, total=False):
    """What either client may be given besides its Region and endpoint: the pool's size
    (default: the DynamoDB pool's seed), the table its warm-up describes (none), the tracer of
    its CLIENT spans (none)."""

    max_connections: int
    warm_table: str
    tracer: Tracer | None


class _Tables(abc.ABC):
    """What both clients share: the interface the stores use, warm-up, pool reporting, local
    table setup."""

    def __init__(self, region: str, **options: Unpack[TableOptions]) -> None:
        self._region = region
        self.max_connections = options.get("max_connections", SEED.max_connections)
        self._warm_table = options.get("warm_table", "")
        self._tracer = options.get("tracer")
        self.pool_stats = PoolStats()
        self.client: Any = None
        self._provision: Callable[[], Awaitable[None]] | None = None
        self._provision_lock = asyncio.Lock()
        self._provisioned_at = 0.0

    @abc.abstractmethod
    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One DynamoDB API call (``DescribeTable`` …) with its wire-format payload."""

    @abc.abstractmethod
    async def get_item(self, table: str, key: dict[str, str], consistent: bool = False) -> dict[str, Any] | None:
        """The item as Python values (numbers as ``Decimal``, binary as bytes), or ``None``."""

    @abc.abstractmethod
    async def put_item(
        self, table: str, item: dict[str, Any], absent: str | None = None, expected: tuple[str, int] | None = None
    ) -> None:
        """Write ``item``; ``absent``: only if no item has that key yet; ``expected``: only if
        attribute ``expected[0]`` equals ``expected[1]`` (else ``ConditionalCheckFailedException``)."""

    @abc.abstractmethod
    def _idle_connections(self) -> int:
        """Pooled connections not in use right now."""

    @abc.abstractmethod
    def _endpoint_url(self) -> str:
        """Where the calls go (reported by the pool, never with credentials)."""

    def as_pool(self) -> Pool:
        return Pool(
            "dynamodb",
            self.max_connections,
            self.pool_stats,
            self._idle_connections,
            target=self._endpoint_url(),
            warm=self.warm,
        )

    async def warm(self) -> None:
        """One cheap call on a table this process uses (``DescribeTable``, which its task role
        is granted on that table; ``ListTables`` is not, and an account-wide read is more
        than it needs): resolves the endpoint and leaves a pooled keep-alive connection."""
        if self._warm_table:
            await self.call("DescribeTable", {"TableName": self._warm_table})

    def provision_when_missing(self, provision: Callable[[], Awaitable[None]]) -> None:
        """Local only (``create_tables``): when a table has gone missing, ``provision`` runs
        again and the call is retried once. The local stand-in keeps tables in memory, so a
        restarted one is empty; in AWS the stack owns the tables and this is never set."""
        self._provision = provision

    async def retry_if_table_missing(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``; after a missing table, re-provision (at most once a second) and call again."""
        try:
            return await call()
        except ClientError as exc:
            if self._provision is None or _code(exc) != "ResourceNotFoundException":
                raise
        async with self._provision_lock:
            if time.monotonic() - self._provisioned_at > 1.0:
                logger.warning("a table is missing; provisioning the local tables again")
                await self._provision()
                self._provisioned_at = time.monotonic()
        return await call()

    async def ensure_table(self, name: str, key: str, ttl_attribute: str | None = None) -> None:
        """Create ``name`` (on-demand) unless it exists; idempotent across processes."""
        try:
            await self.call("DescribeTable", {"TableName": name})
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            try:
                await self.call(
                    "CreateTable",
                    {
                        "TableName": name,
                        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
                        "BillingMode": "PAY_PER_REQUEST",
                    },
                )
            except ClientError as create_exc:
                if _code(create_exc) != "ResourceInUseException":
                    raise
            for _ in range(100):
                desc = await self.call("DescribeTable", {"TableName": name})
                if desc["Table"]["TableStatus"] == "ACTIVE":
                    break
                await asyncio.sleep(0.05)
            if ttl_attribute:
                await self.call(
                    "UpdateTimeToLive",
                    {"TableName": name, "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl_attribute}},
                )


class DynamoClient(_Tables):
    """Owns the aioboto3 DynamoDB client for the process."""

    def __init__(
        self, region: str, endpoint_url: str | None, *, validate_params: bool = True, **options: Unpack[TableOptions]
    ) -> None:
        super().__init__(region, **options)
        self._validate = validate_params
        self._endpoint = endpoint_url
        self._stack = AsyncExitStack()

    async def open(self) -> None:
        config = AioConfig(
            region_name=self._region,
            max_pool_connections=self.max_connections,
            connect_timeout=SEED.connect_timeout_s,
            read_timeout=SEED.read_timeout_s,
            retries={"max_attempts": 3, "mode": "adaptive"},
            tcp_keepalive=True,
            connector_args={"keepalive_timeout": SEED.max_idle_s},
            http_session_cls=measured_http_session(self.pool_stats),
            parameter_validation=self._validate,
        )
        session = aioboto3.Session()
        self.client = await self._stack.enter_async_context(
            session.client("dynamodb", endpoint_url=self._endpoint, config=config)
        )
        if self._tracer is not None:
            trace_aws_client(self.client, self._tracer)  # a CLIENT span per DynamoDB call

    async def close(self) -> None:
        await self._stack.aclose()

    def _idle_connections(self) -> int:
        return aiobotocore_idle(self.client)

    def _endpoint_url(self) -> str:
        return str(self.client.meta.endpoint_url)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = await getattr(self.client, xform_name(action))(**payload)
        return reply

    async def get_item(self, table: str, key: dict[str, str], consistent: bool = False) -> dict[str, Any] | None:
        reply = await self.client.get_item(TableName=table, Key=_to_item(key), ConsistentRead=consistent)
        return _from_item(reply["Item"]) if "Item" in reply else None

    async def put_item(
        self, table: str, item: dict[str, Any], absent: str | None = None, expected: tuple[str, int] | None = None
    ) -> None:
        await self.client.put_item(TableName=table, Item=_to_item(item), **_condition(absent, expected))


# --- aiodynamo -------------------------------------------------------------------------------

# The call's span while aiodynamo sends it: the HTTP adaptor records each attempt's status on it.
_CALL_SPAN: ContextVar[Span | None] = ContextVar("mangaassist_dynamodb_span", default=None)


@dataclass(frozen=True)
class StandardRetries(ExponentialBackoffRetry):
    """botocore's retry schedule, with its attempt cap: at most ``max_attempts`` tries, a random
    delay of up to 1 s, then 2 s (``random() * 2 ** n``, 20 s at most) between them. aiodynamo's
    own configs only stop at a time limit; after the last try the last error is raised."""

    max_attempts: int = 3
    scale: float = 1.0  # tests shrink the delays

    def delays(self) -> Iterable[float]:
        for delay in super().delays():
            yield delay * self.scale

    async def attempts(self) -> AsyncIterable[None]:
        deadline = time.monotonic() + self.time_limit_secs
        delays: Iterable[float] = self.delays()
        for attempt, delay in enumerate(delays, start=1):
            yield
            if attempt >= self.max_attempts or time.monotonic() > deadline:
                raise RetryTimeout()
            await asyncio.sleep(delay)


# Failures botocore's standard retry mode tries again (aiodynamo retries throttling, 500, 503,
# timeouts, connection errors and an expired token; these it would raise at once).
_ALSO_RETRIED = (
    dynamo_errors.RequestLimitExceeded,
    dynamo_errors.LimitExceeded,
    dynamo_errors.TransactionConflict,
    dynamo_errors.TransactionInProgress,
)


class _Client(_AiodynamoBase):
    def handle_exception(self, exception: Exception) -> None:
        if isinstance(exception, _ALSO_RETRIED) or (
            isinstance(exception, dynamo_errors.UnknownError) and exception.status in (502, 504)
        ):
            self.health_monitor.on_exception(exception)
            return
        super().handle_exception(exception)


@dataclass(frozen=True)
class _TracedAIOHTTP(AIOHTTP):
    """aiodynamo's aiohttp adaptor that also records the status and request id of each attempt
    on the call's span."""

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        span = _CALL_SPAN.get()
        if span is None or request.method != "POST":
            return await super().__call__(request)
        try:
            async with self.session.request(
                request.method, request.url, headers=request.headers, data=request.body
            ) as response:
                body = await response.read()
        except aiohttp.ClientError as exc:
            raise RequestFailed(exc) from exc
        span.set_attribute("http.response.status_code", response.status)
        request_id = response.headers.get("x-amzn-RequestId")
        if request_id:
            span.set_attribute("aws.request_id", request_id)
        return HttpResponse(response.status, body)


# aiodynamo's exception class -> the DynamoDB error code botocore would put in ``ClientError``.
_CODES: dict[type[Exception], str] = {cls: code for code, cls in dynamo_errors.ERRORS.items()}
_CODES[dynamo_errors.TableNotFound] = "ResourceNotFoundException"
_CODES[dynamo_errors.InternalDynamoError] = "InternalServerError"
_CODES[dynamo_errors.ServiceUnavailable] = "ServiceUnavailable"


def _client_error(code: str, message: str, status: int, action: str) -> BaseException:
    error: BaseException = ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, action
    )
    return error


def as_botocore_error(exc: BaseException, action: str, endpoint: str) -> BaseException:
    """The exception botocore would have raised for the same failure (same types, same codes)."""
    mapped: BaseException
    if isinstance(exc, dynamo_errors.NoCredentialsFound):
        mapped = NoCredentialsError()
        return mapped
    if isinstance(exc, dynamo_errors.UnknownError):
        code, message = str(exc.status), ""
        try:
            body = json.loads(exc.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = str(body.get("__type", code)).split("#", 1)[-1]
            message = str(body.get("message", body.get("Message", "")))
        return _client_error(code, message, exc.status, action)
    known = _CODES.get(type(exc)) if isinstance(exc, Exception) else None
    if known is not None:
        data = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        message = str(data.get("message", data.get("Message", "")))
        status = 500 if known == "InternalServerError" else 503 if known == "ServiceUnavailable" else 400
        return _client_error(known, message, status, action)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = ConnectTimeoutError(endpoint_url=endpoint, error=exc)
    elif isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        mapped = ReadTimeoutError(endpoint_url=endpoint, error=exc)
    elif isinstance(exc, aiohttp.ClientError):
        mapped = EndpointConnectionError(endpoint_url=endpoint, error=exc)
    else:
        mapped = exc
    return mapped


class _RequiredCredentials(Credentials):
    """The standard chain, but no key is an error at once (botocore's ``NoCredentialsError``),
    not a failed attempt that aiodynamo would back off and try again."""

    def __init__(self, chain: Credentials) -> None:
        self._chain = chain

    async def get_key(self, http: Any) -> Any:
        key = await self._chain.get_key(http)
        if key is None:
            raise dynamo_errors.NoCredentialsFound()
        return key

    def invalidate(self) -> bool:
        return self._chain.invalidate()

    def is_disabled(self) -> bool:
        return self._chain.is_disabled()


def endpoint_from_environment() -> str | None:
    """The SDKs' standard endpoint override (``AWS_ENDPOINT_URL_DYNAMODB``, then
    ``AWS_ENDPOINT_URL``), as botocore reads it when no endpoint is given."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None


class AiodynamoClient(_Tables):
    """Owns the process's aiodynamo client: one aiohttp session (25 keep-alive connections,
    1 s connect / 3 s read), credentials from the standard chain (environment, shared file,
    the ECS task role's container endpoint, EC2 instance metadata; refreshed before they
    expire), botocore's retry schedule, a CLIENT span per call."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None,
        *,
        retries: StandardRetries | None = None,
        **options: Unpack[TableOptions],
    ) -> None:
        super().__init__(region, **options)
        self._retries = retries or StandardRetries()
        self._endpoint = endpoint_url or endpoint_from_environment()
        self.endpoint_url = self._endpoint or f"https://dynamodb.{region}.amazonaws.com"
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=SEED.max_idle_s),
            timeout=aiohttp.ClientTimeout(connect=SEED.connect_timeout_s, sock_read=SEED.read_timeout_s),
            trace_configs=[aiohttp_tracing(self.pool_stats)],
            auto_decompress=False,
        )
        self.client = _Client(
            http=_TracedAIOHTTP(self.http),
            credentials=_RequiredCredentials(Credentials.auto()),
            region=self._region,
            endpoint=URL(self._endpoint) if self._endpoint else None,
            numeric_type=Decimal,
            throttle_config=self._retries,
        )

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    def _idle_connections(self) -> int:
        return aiohttp_idle(self.http)

    def _endpoint_url(self) -> str:
        return self.endpoint_url

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        span: Span | None = None
        if self._tracer is not None:
            attributes: dict[str, Any] = {"rpc.system": "aws-api", "rpc.service": SERVICE, "rpc.method": action}
            if isinstance(payload.get("TableName"), str):
                attributes["aws.dynamodb.table_names"] = [payload["TableName"]]
            span = self._tracer.start_span(f"{SERVICE}.{action}", kind=SpanKind.CLIENT, attributes=attributes)
        token = _CALL_SPAN.set(span)
        try:
            reply: dict[str, Any] = await self.client.send_request(action=action, payload=payload)
        except Exception as exc:
            mapped = as_botocore_error(exc, action, self.endpoint_url)
            if span is not None:
                if isinstance(mapped, ClientError):
                    span.set_status(Status(StatusCode.ERROR, _code(mapped)))
                else:
                    span.set_attribute("error.type", type(mapped).__name__)
                    span.set_status(Status(StatusCode.ERROR, type(mapped).__name__))
            if mapped is exc:
                raise
            raise mapped from exc
        finally:
            _CALL_SPAN.reset(token)
            if span is not None:
                span.end()
        return reply

    async def get_item(self, table: str, key: dict[str, str], consistent: bool = False) -> dict[str, Any] | None:
        payload = {"TableName": table, "Key": py2dy(key), "ConsistentRead": consistent}
        reply = await self.call("GetItem", payload)
        return dy2py(reply["Item"], Decimal) if "Item" in reply else None

    async def put_item(
        self, table: str, item: dict[str, Any], absent: str | None = None, expected: tuple[str, int] | None = None
    ) -> None:
        payload = {"TableName": table, "Item": py2dy(item), **_condition(absent, expected)}
        await self.call("PutItem", payload)


SessionClient = DynamoClient | AiodynamoClient


class DynamoSessionStore:
    """Sessions in DynamoDB: bounded items, TTL, optimistic concurrency on ``version``."""

    def __init__(self, db: SessionClient, table: str, ttl_s: float) -> None:
        self._db = db
        self._table = table
        self._ttl = ttl_s

    async def load(self, session_id: str) -> Session:
        data = await self._db.retry_if_table_missing(
            lambda: self._db.get_item(self._table, {"session_id": session_id}, consistent=True)
        )
        if data is None:
            return Session(session_id)
        version = int(data.get("version", 0))
        if float(data.get("expires_at", 0)) < time.time():
            # TTL deletion is lazy; an expired item is an empty session that keeps its version.
            return Session(session_id, version=version)
        return Session(
            session_id=session_id,
            turns=[(t["r"], t["t"]) for t in data.get("turns", [])],
            intents=list(data.get("intents", [])),
            summary=str(data.get("summary", "")),
            customer_id=data.get("customer_id"),
            version=version,
            cost_usd=float(data.get("cost_usd", 0)),
            state=bytes(data.get("state", b"")),
            turn_ids=list(data.get("turn_ids", [])),
        )

    async def append(self, session_id: str, turn: Turn, base: Session | None = None) -> None:
        """One conditional write per turn: the turn appended to ``base`` (the session this
        turn read) when given, so a turn costs one read and one write; the session is read
        again only after the condition failed (another write landed first — or this turn's
        own earlier try, whose reply was lost: its ``turn_id`` is then there and we stop)."""
        current = base
        for _ in range(APPEND_ATTEMPTS):
            if current is None:
                current = await self.load(session_id)
            if not current.owned_by(turn.customer_id):
                raise SessionOwnershipError(session_id)
            if turn.turn_id and turn.turn_id in current.turn_ids:
                return
            new = current.with_turn(turn)
            item = {
                k: v
                for k, v in {
                    "session_id": session_id,
                    "customer_id": new.customer_id,
                    "turns": [{"r": r, "t": t} for r, t in new.turns],
                    "intents": new.intents,
                    "summary": new.summary,
                    "version": new.version,
                    "cost_usd": Decimal(str(round(new.cost_usd, 8))),
                    "state": new.state or None,
                    "turn_ids": new.turn_ids or None,
                    "updated_at": Decimal(str(round(time.time(), 3))),
                    "expires_at": int(time.time() + self._ttl),
                }.items()
                if v is not None
            }
            # The first write of a session must create it; every later one must find the
            # version it read (optimistic concurrency).
            version = current.version

            async def put(item: dict[str, Any] = item, version: int = version) -> None:
                if version == 0:
                    await self._db.put_item(self._table, item, absent="session_id")
                else:
                    await self._db.put_item(self._table, item, expected=("version", version))

            try:
                await self._db.retry_if_table_missing(put)
                return
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                # Another turn of this session landed first (or ``base`` was stale): re-read
                # and append after it.
                current = None
        raise RuntimeError(f"session update lost {APPEND_ATTEMPTS} races in a row")

    async def close(self) -> None:
        """The shared client is closed by its owner."""


class OrderStore:
    """The orders table: read by order id; answers only the customer who placed the order."""

    def __init__(self, db: SessionClient, table: str) -> None:
        self._db = db
        self._table = table

    async def get_for_customer(self, order_id: str, customer_id: str | None) -> dict[str, Any] | None:
        """The order, or ``None`` when it does not exist *or* belongs to someone else.

        Both cases look the same to the caller, so order ids cannot be probed.
        """
        if customer_id is None:
            return None
        order = await self._db.retry_if_table_missing(lambda: self._db.get_item(self._table, {"order_id": order_id}))
        if order is None:
            return None
        return order if order.get("customer_id") == customer_id else None

    async def seed(self, orders: list[dict[str, Any]]) -> int:
        """Insert the sample orders that are not there yet (idempotent)."""
        created = 0
        for order in orders:
            try:
                await self._db.put_item(
                    self._table, {k: v for k, v in order.items() if v is not None}, absent="order_id"
                )
                created += 1
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
        return created
