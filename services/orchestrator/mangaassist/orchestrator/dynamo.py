"""DynamoDB access through aioboto3: the sessions table, the orders table, their setup.

One long-lived client per process (pool of 25 connections, 1 s connect / 3 s read
timeouts, adaptive retries — the seed's DynamoDB pool row), created at start and
closed at stop. Locally it points at a moto server; in AWS at the regional endpoint
(or the VPC gateway endpoint) through the standard credential chain.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aioboto3
from aiobotocore.config import AioConfig
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, NoCredentialsError, ParamValidationError
from opentelemetry.trace import Tracer

from mangaassist.common.pools import SEED_POOLS, Pool, PoolStats, aiobotocore_idle, measured_http_session
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


class DynamoClient:
    """Owns the aioboto3 DynamoDB client for the process."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None,
        max_connections: int = SEED.max_connections,
        warm_table: str = "",
        tracer: Tracer | None = None,
        validate_params: bool = True,
    ) -> None:
        self._region = region
        self._validate = validate_params
        self._warm_table = warm_table
        self._tracer = tracer
        self._endpoint = endpoint_url
        self.max_connections = max_connections
        self._stack = AsyncExitStack()
        self.client: Any = None
        self.pool_stats = PoolStats()
        self._provision: Callable[[], Awaitable[None]] | None = None
        self._provision_lock = asyncio.Lock()
        self._provisioned_at = 0.0

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

    async def warm(self) -> None:
        """One cheap call on a table this process uses (``DescribeTable``, which its task role
        is granted on that table; ``ListTables`` is not, and an account-wide read is more
        than it needs): resolves the endpoint and leaves a pooled keep-alive connection."""
        if self._warm_table:
            await self.client.describe_table(TableName=self._warm_table)

    def as_pool(self) -> Pool:
        return Pool(
            "dynamodb",
            self.max_connections,
            self.pool_stats,
            lambda: aiobotocore_idle(self.client),
            target=self.client.meta.endpoint_url,
            warm=self.warm,
        )

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
            await self.client.describe_table(TableName=name)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            try:
                await self.client.create_table(
                    TableName=name,
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ClientError as create_exc:
                if _code(create_exc) != "ResourceInUseException":
                    raise
            for _ in range(100):
                desc = await self.client.describe_table(TableName=name)
                if desc["Table"]["TableStatus"] == "ACTIVE":
                    break
                await asyncio.sleep(0.05)
            if ttl_attribute:
                await self.client.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
                )


class DynamoSessionStore:
    """Sessions in DynamoDB: bounded items, TTL, optimistic concurrency on ``version``."""

    def __init__(self, db: DynamoClient, table: str, ttl_s: float) -> None:
        self._db = db
        self._table = table
        self._ttl = ttl_s

    async def load(self, session_id: str) -> Session:
        reply = await self._db.retry_if_table_missing(
            lambda: self._db.client.get_item(
                TableName=self._table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
            )
        )
        if "Item" not in reply:
            return Session(session_id)
        data = _from_item(reply["Item"])
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
            item = _to_item(
                {
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
                }
            )
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(session_id)"}
                if current.version == 0
                else {
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(current.version)}},
                }
            )
            put = functools.partial(self._db.client.put_item, TableName=self._table, Item=item, **condition)
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

    def __init__(self, db: DynamoClient, table: str) -> None:
        self._db = db
        self._table = table

    async def get_for_customer(self, order_id: str, customer_id: str | None) -> dict[str, Any] | None:
        """The order, or ``None`` when it does not exist *or* belongs to someone else.

        Both cases look the same to the caller, so order ids cannot be probed.
        """
        if customer_id is None:
            return None
        reply = await self._db.retry_if_table_missing(
            lambda: self._db.client.get_item(TableName=self._table, Key={"order_id": {"S": order_id}})
        )
        if "Item" not in reply:
            return None
        order = _from_item(reply["Item"])
        return order if order.get("customer_id") == customer_id else None

    async def seed(self, orders: list[dict[str, Any]]) -> int:
        """Insert the sample orders that are not there yet (idempotent)."""
        created = 0
        for order in orders:
            try:
                await self._db.client.put_item(
                    TableName=self._table,
                    Item=_to_item(order),
                    ConditionExpression="attribute_not_exists(order_id)",
                )
                created += 1
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
        return created
