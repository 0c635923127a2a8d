"""The aiodynamo client's own duties (decision 0010): botocore's errors and codes, botocore's retry
schedule, the endpoint override, the region, and credentials from the ECS task role's endpoint.

The mapping and the schedule are checked without a server; retries and credentials against a
small stand-in on a loopback port (integration-marked)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiodynamo import errors as dynamo_errors
from aiodynamo.models import RetryTimeout
from aiohttp import web
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from mangaassist.devtools.http_stub import serve
from mangaassist.orchestrator.dynamo import (
    AiodynamoClient,
    DynamoSessionStore,
    StandardRetries,
    as_botocore_error,
    endpoint_from_environment,
    is_permanent,
)
from mangaassist.orchestrator.sessions import Session, Turn

FAST = StandardRetries(scale=0.001)


def _error(cls: type[Exception], code: str) -> Exception:
    return cls({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "m"})


@pytest.mark.parametrize(
    ("raised", "code", "permanent"),
    [
        (
            _error(dynamo_errors.ConditionalCheckFailed, "ConditionalCheckFailedException"),
            "ConditionalCheckFailedException",
            False,
        ),
        (_error(dynamo_errors.TableNotFound, "ResourceNotFoundException"), "ResourceNotFoundException", True),
        (_error(dynamo_errors.ValidationException, "ValidationException"), "ValidationException", True),
        (_error(dynamo_errors.AccessDenied, "AccessDeniedException"), "AccessDeniedException", True),
        (_error(dynamo_errors.UnrecognizedClient, "UnrecognizedClientException"), "UnrecognizedClientException", True),
        (_error(dynamo_errors.ExpiredToken, "ExpiredTokenException"), "ExpiredTokenException", True),
        (_error(dynamo_errors.Throttled, "ThrottlingException"), "ThrottlingException", False),
        (
            _error(dynamo_errors.ProvisionedThroughputExceeded, "ProvisionedThroughputExceededException"),
            "ProvisionedThroughputExceededException",
            False,
        ),
        (dynamo_errors.InternalDynamoError(), "InternalServerError", False),
        (dynamo_errors.ServiceUnavailable(), "ServiceUnavailable", False),
        (
            dynamo_errors.UnknownError(400, b'{"__type": "com.amazonaws.dynamodb.v20120810#SomethingNewException"}'),
            "SomethingNewException",
            False,
        ),
        (dynamo_errors.UnknownError(502, b"<html>bad gateway</html>"), "502", False),
    ],
)
def test_dynamodb_errors_become_botocores_client_errors_with_the_same_code(
    raised: Exception, code: str, permanent: bool
) -> None:
    mapped = as_botocore_error(raised, "PutItem", "http://x")
    assert isinstance(mapped, ClientError)
    assert mapped.response["Error"]["Code"] == code and mapped.operation_name == "PutItem"
    assert is_permanent(mapped) is permanent


def test_transport_failures_become_botocores_connection_errors() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    cases: list[tuple[BaseException, type[BaseException]]] = [
        (aiohttp.ConnectionTimeoutError(), ConnectTimeoutError),
        (aiohttp.SocketTimeoutError(), ReadTimeoutError),
        (aiohttp.ServerDisconnectedError(), EndpointConnectionError),
        (aiohttp.ClientConnectorError(key, OSError(111, "refused")), EndpointConnectionError),
        (dynamo_errors.NoCredentialsFound(), NoCredentialsError),
    ]
    for raised, expected in cases:
        mapped = as_botocore_error(raised, "GetItem", "http://x")
        assert type(mapped) is expected, raised
    assert is_permanent(as_botocore_error(dynamo_errors.NoCredentialsFound(), "GetItem", "http://x"))
    other = ValueError("not a DynamoDB failure")
    assert as_botocore_error(other, "GetItem", "http://x") is other


def test_the_endpoint_override_follows_the_sdks_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    assert endpoint_from_environment() is None
    assert AiodynamoClient("eu-west-1", None).endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://all:1")
    assert endpoint_from_environment() == "http://all:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://moto:8092")
    assert AiodynamoClient("eu-west-1", None).endpoint_url == "http://moto:8092"
    assert AiodynamoClient("eu-west-1", "http://settings:1").endpoint_url == "http://settings:1"  # the setting wins
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert endpoint_from_environment() is None


async def test_the_retry_schedule_stops_after_three_attempts() -> None:
    tries = 0
    with pytest.raises(RetryTimeout):
        async for _ in StandardRetries(scale=0.0).attempts():
            tries += 1
    assert tries == 3


# --- against a stand-in ------------------------------------------------------------------


class StandIn:
    """DynamoDB's and the ECS credentials endpoint's shapes on a loopback port: answers with
    the queued (status, body) replies, then 200 ``{}``; records every request's headers."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, str]] = []
        self.url = ""

    async def dynamodb(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests.append(dict(request.headers))
        status, body = self.replies.pop(0) if self.replies else (200, {})
        return web.Response(
            status=status,
            body=orjson.dumps(body),
            content_type="application/x-amz-json-1.0",
            headers={"x-amzn-RequestId": f"r-{len(self.requests)}"},
        )

    async def credentials(self, request: web.Request) -> web.Response:
        self.requests.append({"credentials": request.headers.get("Authorization", "")})
        return web.json_response(
            {
                "AccessKeyId": "ASIATASKROLE",
                "SecretAccessKey": "secret",
                "Token": "task-role-session-token",
                "Expiration": "2099-01-01T00:00:00Z",
            }
        )


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    server = StandIn()
    app = web.Application()
    app.router.add_post("/", server.dynamodb)
    app.router.add_get("/v2/credentials/task", server.credentials)
    async with serve(app) as url:
        server.url = url
        yield server


def _throttled() -> tuple[int, dict[str, Any]]:
    return 400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}


@pytest.mark.integration
async def test_throttling_and_server_errors_are_retried_three_attempts_in_all(stand_in: StandIn, aws_env: None) -> None:
    client = AiodynamoClient("ap-northeast-1", stand_in.url, retries=FAST)
    await client.open()
    try:
        stand_in.replies = [_throttled(), (500, {})]
        assert await client.get_item("sessions", {"session_id": "s"}) is None  # the third attempt answers
        assert len(stand_in.requests) == 3
        stand_in.requests.clear()
        stand_in.replies = [_throttled(), _throttled(), _throttled(), _throttled()]
        with pytest.raises(ClientError) as throttled:
            await client.get_item("sessions", {"session_id": "s"})
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException" and len(stand_in.requests) == 3
        stand_in.requests.clear()
        stand_in.replies = [(400, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "no"})]
        with pytest.raises(ClientError) as invalid:
            await client.put_item("sessions", {"session_id": "s"}, expected=("version", 3))
        assert is_permanent(invalid.value) and len(stand_in.requests) == 1  # never retried
    finally:
        await client.close()


@pytest.mark.integration
async def test_a_failed_conditional_write_is_the_stores_version_race(stand_in: StandIn, aws_env: None) -> None:
    """``ConditionalCheckFailedException`` reaches the store as botocore's ``ClientError``: it
    re-reads and writes again (one GetItem, then the second PutItem lands)."""
    client = AiodynamoClient("ap-northeast-1", stand_in.url, retries=FAST)
    await client.open()
    try:
        race = (400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "x"})
        stand_in.replies = [race]
        store = DynamoSessionStore(client, "sessions", ttl_s=60)
        await store.append("s", Turn(None, "greeting", "hi", "hello"), base=Session("s"))  # version 0: must not exist
        targets = [r["X-Amz-Target"].split(".")[-1] for r in stand_in.requests]
        assert targets == ["PutItem", "GetItem", "PutItem"]
    finally:
        await client.close()


@pytest.mark.integration
async def test_unreachable_endpoint_is_botocores_connection_error_after_three_attempts(aws_env: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the client connects: nothing listens
    client = AiodynamoClient("ap-northeast-1", f"http://127.0.0.1:{port}", retries=FAST)
    await client.open()
    try:
        with pytest.raises(EndpointConnectionError):
            await client.get_item("sessions", {"session_id": "s"})
        assert client.pool_stats.requests == 3 and client.pool_stats.errors == 3
    finally:
        await client.close()


@pytest.mark.integration
async def test_credentials_come_from_the_ecs_task_role_endpoint_and_region_from_settings(
    stand_in: StandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """In ECS the task role's credentials are served at the container credentials endpoint
    (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` on 169.254.170.2, or a full URI): no keys in
    the environment, a session token with every request, the Region from settings."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no shared credentials file
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{stand_in.url}/v2/credentials/task")
    client = AiodynamoClient("eu-west-1", stand_in.url, retries=FAST)
    await client.open()
    try:
        await client.get_item("sessions", {"session_id": "s"})
        await client.get_item("sessions", {"session_id": "s"})
    finally:
        await client.close()
    fetched, first, second = stand_in.requests
    assert "credentials" in fetched  # fetched once, then cached until shortly before it expires
    for request in (first, second):
        assert "Credential=ASIATASKROLE/" in request["Authorization"]
        assert "/eu-west-1/dynamodb/aws4_request" in request["Authorization"]
        assert request["X-Amz-Security-Token"] == "task-role-session-token"


@pytest.mark.integration
async def test_no_credentials_anywhere_is_botocores_permanent_error(
    stand_in: StandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = AiodynamoClient("ap-northeast-1", stand_in.url)  # botocore's delays: no key must not wait for them
    await client.open()
    try:
        started = time.monotonic()
        with pytest.raises(NoCredentialsError) as missing:
            await client.get_item("sessions", {"session_id": "s"})
        assert is_permanent(missing.value) and stand_in.requests == []
        assert time.monotonic() - started < 0.5  # raised at once, as botocore does
    finally:
        await client.close()
