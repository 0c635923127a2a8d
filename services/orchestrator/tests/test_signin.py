"""Sign-in and ownership at the real front door (in process, real sockets on 127.0.0.1:0):
a connection does not outlive its token, anonymous use is a setting, an anonymous session
belongs to the browser that started it, keys come from a JWKS URL (cached), and
``/admin/*`` exists only on the loopback admin listener.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import http_health
from mangaassist.orchestrator.app import Orchestrator
from mangaassist.orchestrator.auth import Identity, TokenVerifier, issue_token
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.pipeline import Pipeline
from mangaassist.orchestrator.postprocess import PostProcessor
from services.orchestrator.tests.test_edge import ask, url

pytestmark = pytest.mark.integration

SECRET = "a-test-secret-that-is-long-enough-0123456789"


class OwnerPipeline:
    """Answers every query with `done` naming who asked (customer and session owner)."""

    def __init__(self, settings: OrchestratorSettings) -> None:
        self.guards = Guards(settings.breakers, settings.bulkhead_wait_s)
        self.post = PostProcessor(8)

    async def handle(
        self, raw: dict[str, Any], received_at: float, emit: Callable[..., Any], identity: Identity
    ) -> None:
        await emit(
            {
                "type": "done",
                "request_id": raw.get("request_id"),
                "customer": identity.customer_id,
                "owner": identity.owner,
            }
        )


@asynccontextmanager
async def front_door(verifier: TokenVerifier | None = None, **settings: Any) -> AsyncIterator[Orchestrator]:
    s = OrchestratorSettings(host="127.0.0.1", port=0, session_backend="memory", drain_grace_s=0.1, **settings)
    app = Orchestrator(s, cast(Pipeline, OwnerPipeline(s)), {}, verifier or TokenVerifier(SECRET, leeway_s=0))
    await app.start()
    try:
        yield app
    finally:
        await app.drain()


async def test_a_connection_does_not_outlive_its_token() -> None:
    token = issue_token(SECRET, "cust-7", ttl_s=2)
    async with front_door() as app, connect(url(app, token)) as ws:
        answered = await ask(ws, "before")
        assert (answered["type"], answered["customer"]) == ("done", "cust-7")
        await asyncio.sleep(max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 0.1)
        refused = await ask(ws, "after")
        assert refused["type"] == "error" and refused["code"] == "unauthorized" and "expired" in refused["message"]


async def test_anonymous_use_is_a_setting() -> None:
    async with front_door(TokenVerifier(SECRET, allow_anonymous=False)) as app:
        async with connect(url(app)) as ws:
            refused = await ask(ws, "q")
            assert (refused["type"], refused["code"]) == ("error", "unauthorized")
        async with connect(url(app, issue_token(SECRET, "cust-7"))) as ws:
            assert (await ask(ws, "q"))["customer"] == "cust-7"


async def test_an_anonymous_session_belongs_to_the_browser_that_started_it() -> None:
    async with front_door() as app:
        async with connect(url(app)) as first:
            cookie = first.response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            owner = (await ask(first, "q"))["owner"]
        assert owner.startswith("anon#")
        jar = cookie.split(";", 1)[0]
        assert jar.split("=", 1)[1] not in owner  # the session keeps a hash, not the secret
        async with connect(url(app), additional_headers={"Cookie": jar}) as again:  # same browser
            assert "Set-Cookie" not in again.response.headers
            assert (await ask(again, "q"))["owner"] == owner
        async with connect(url(app)) as stranger:  # knows nothing but perhaps the session id
            assert (await ask(stranger, "q"))["owner"] not in (owner, None)
        async with connect(url(app), additional_headers={"Cookie": "mangaassist_anon=guess"}) as guesser:
            assert (await ask(guesser, "q"))["owner"] not in (owner, None)


async def test_admin_routes_live_only_on_the_loopback_listener() -> None:
    async with front_door(admin_port=0) as app:
        status, _ = await asyncio.to_thread(http_health, f"http://127.0.0.1:{app.port}/admin/status", 5.0)
        assert status == 404
        status, _ = await asyncio.to_thread(http_health, f"http://127.0.0.1:{app.port}/admin", 5.0)
        assert status == 404
        status, body = await asyncio.to_thread(http_health, f"http://127.0.0.1:{app.admin_port}/admin/status", 5.0)
        assert status == 200 and "guards" in body and "postprocess" in body
    with pytest.raises(ValueError, match="loopback"):
        OrchestratorSettings(admin_host="0.0.0.0", admin_port=0)


# --- keys from a JWKS URL (Cognito's shape) ---------------------------------------------------

ISSUER = "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_TEST"
CLIENT_ID = "4example0clientid"


@contextmanager
def jwks_server(keys: list[dict[str, Any]]) -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server with ``/.well-known/jwks.json``; yields its URL and the paths asked."""
    asked: list[str] = []
    body = json.dumps({"keys": keys}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", asked
    finally:
        server.shutdown()
        server.server_close()


def rsa_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


async def test_tokens_verify_against_a_jwks_url_with_cached_keys() -> None:
    private, jwk = rsa_key("k1")
    stranger, _ = rsa_key("k1")  # same key id, another key: a forgery
    now = int(time.time())
    id_token = {"sub": "cust-7", "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id", "exp": now + 600}
    access_token = {"sub": "cust-8", "iss": ISSUER, "client_id": CLIENT_ID, "token_use": "access", "exp": now + 600}

    def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey = private) -> str:
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    with jwks_server([jwk]) as (jwks_url, asked):
        verifier = TokenVerifier(jwks_url=jwks_url, issuer=ISSUER, audience=CLIENT_ID)
        assert (await verifier.identify("/ws", f"Bearer {sign(id_token)}")).customer_id == "cust-7"
        assert (await verifier.identify("/ws", f"Bearer {sign(access_token)}")).customer_id == "cust-8"
        assert (await verifier.identify("/ws", f"Bearer {sign(id_token, stranger)}")).error
        assert (await verifier.identify("/ws", f"Bearer {sign({**id_token, 'iss': ISSUER + 'x'})}")).error
        assert (await verifier.identify("/ws", f"Bearer {sign({**id_token, 'aud': 'other'})}")).error
        # HS256 with the public key as the secret (algorithm confusion) is refused.
        assert (await verifier.identify("/ws", "Bearer " + jwt.encode(id_token, "x" * 40, algorithm="HS256"))).error
        assert len(asked) == 1  # one fetch: the key set is cached
    # The key server is gone: a clear refusal, not a crash or a hang.
    gone = TokenVerifier(jwks_url=jwks_url, issuer=ISSUER, audience=CLIENT_ID)
    assert (await gone.identify("/ws", f"Bearer {sign(id_token)}")).error


async def test_the_front_door_signs_in_through_jwks() -> None:
    private, jwk = rsa_key("k1")
    token = jwt.encode(
        {"sub": "cust-9", "iss": ISSUER, "aud": CLIENT_ID, "exp": int(time.time()) + 600},
        private,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    with jwks_server([jwk]) as (jwks_url, _):
        settings = OrchestratorSettings(
            auth_jwks_url=jwks_url, auth_issuer=ISSUER, auth_audience=CLIENT_ID, allow_anonymous=False
        )
        async with front_door(TokenVerifier.from_settings(settings)) as app:
            async with connect(url(app, token)) as ws:
                assert (await ask(ws, "q"))["customer"] == "cust-9"
            async with connect(url(app)) as ws:
                assert (await ask(ws, "q"))["code"] == "unauthorized"
