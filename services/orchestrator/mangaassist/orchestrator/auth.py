"""Who is asking: customer identity from a signed token on the WebSocket connection.

Tokens are JWTs carrying the customer id in ``sub``; they arrive as ``Authorization:
Bearer …`` or, for browsers (which cannot set headers on a WebSocket), the ``token`` query
parameter. Every token must carry ``sub``, ``exp`` and ``iss``; the issuer must be the
configured one and the token must be meant for this service: ``aud`` names the configured
audience or, for a Cognito *access* token (which has no ``aud``), ``token_use`` is
``access`` and ``client_id`` is the audience.

The signing keys come from either

* a **JWKS URL** (AWS: the Cognito user pool's ``…/.well-known/jwks.json``), read through
  PyJWT's ``PyJWKClient`` with its key cache (a key id seen before costs no request; a new
  one, as after a rotation, fetches the set again). Fetching is blocking I/O, so it runs in
  a worker thread, never on the event loop; or
* a **local key** (HS256 shared secret), for the local cluster and tests.

A token that does not verify makes every question on that connection fail with
``unauthorized``. Expiry is checked again for every question (``Identity.refusal``), so a
connection never outlives its token.

With no token the shopper is anonymous, if ``allow_anonymous`` says so (off in the AWS
stack); an anonymous shopper can browse but never sees orders. Their sessions belong to
the browser that started them: the server hands each new browser an unguessable secret in
an HttpOnly cookie (``anonymous_cookie``) and a session started anonymously is owned by a
hash of that secret, so knowing a session's id is not enough to continue it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from dataclasses import KW_ONLY, InitVar, dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from mangaassist.orchestrator.config import OrchestratorSettings

ALGORITHM = "HS256"  # the local key
JWKS_ALGORITHMS = ["RS256"]  # what Cognito signs with
LOCAL_ISSUER = "mangaassist-local"
DEFAULT_AUDIENCE = "mangaassist-chat"
ANONYMOUS_COOKIE = "mangaassist_anon"
# secrets.token_urlsafe(32): 43 URL-safe characters (256 bits).
_ANON_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Identity:
    customer_id: str | None = None
    error: str | None = None  # set when a token was presented and rejected (or one is required)
    expires_at: float | None = None  # the token's ``exp`` (Unix seconds)
    anonymous_key: str | None = None  # hash of the browser's anonymous secret (never the secret)

    @property
    def owner(self) -> str | None:
        """Who a session started by this identity belongs to: the signed-in customer, else
        the anonymous browser (``anon#<hash>``), else nobody (legacy: anyone may continue)."""
        if self.customer_id is not None:
            return self.customer_id
        return f"anon#{self.anonymous_key}" if self.anonymous_key else None

    def refusal(self, now: float | None = None) -> str | None:
        """Why a question on this connection is refused now (``unauthorized``), or ``None``."""
        if self.error:
            return self.error
        if self.expires_at is not None and (time.time() if now is None else now) >= self.expires_at:
            return "your sign-in has expired; sign in again"
        return None


def anonymous_secret(cookie_header: str | None) -> str | None:
    """The well-formed anonymous secret in a ``Cookie`` header, or ``None``."""
    if not cookie_header:
        return None
    try:
        jar = SimpleCookie(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(ANONYMOUS_COOKIE)
    if morsel is None or not _ANON_SECRET.fullmatch(morsel.value):
        return None
    return morsel.value


def new_anonymous_secret() -> str:
    return secrets.token_urlsafe(32)


def anonymous_key(secret: str) -> str:
    """What the session stores for an anonymous owner: a hash, so a read of the sessions
    table does not hand out the secrets that continue them."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


@dataclass(eq=False)
class TokenVerifier:
    secret: str | None = field(default=None, repr=False)
    _: KW_ONLY
    jwks_url: InitVar[str | None] = None
    issuer: str = LOCAL_ISSUER
    audience: str = DEFAULT_AUDIENCE
    allow_anonymous: bool = True
    leeway_s: float = 30.0
    jwks_cache_s: InitVar[float] = 300.0
    jwks_timeout_s: InitVar[float] = 2.0
    _jwks: jwt.PyJWKClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self, jwks_url: str | None, jwks_cache_s: float, jwks_timeout_s: float) -> None:
        if jwks_url:
            self._jwks = jwt.PyJWKClient(
                jwks_url, cache_keys=True, lifespan=int(jwks_cache_s), timeout=int(max(1, jwks_timeout_s))
            )

    @classmethod
    def from_settings(cls, s: OrchestratorSettings) -> TokenVerifier:
        return cls(
            s.auth_secret.get_secret_value() if s.auth_secret else None,
            jwks_url=s.auth_jwks_url,
            issuer=s.auth_issuer,
            audience=s.auth_audience,
            allow_anonymous=s.allow_anonymous,
            leeway_s=s.auth_leeway_s,
            jwks_cache_s=s.auth_jwks_cache_s,
        )

    @property
    def configured(self) -> bool:
        return self._jwks is not None or bool(self.secret)

    @staticmethod
    def token_of(path: str, authorization: str | None) -> str | None:
        if authorization and authorization.lower().startswith("bearer "):
            return authorization[7:].strip() or None
        values = parse_qs(urlsplit(path).query).get("token")
        return values[0] if values else None

    async def identify(self, path: str, authorization: str | None, anonymous: str | None = None) -> Identity:
        """The identity behind a connection's token (``anonymous``: the browser's anonymous
        secret, used when there is no token)."""
        token = self.token_of(path, authorization)
        if not token:
            if not self.allow_anonymous:
                return Identity(error="sign in to chat")
            return Identity(anonymous_key=anonymous_key(anonymous) if anonymous else None)
        if not self.configured:
            return Identity(error="sign-in is not configured on this server")
        try:
            if self._jwks is not None:
                jwks = self._jwks
                key = (await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)).key
                if not isinstance(key, rsa.RSAPublicKey):  # what Cognito publishes; nothing else
                    return Identity(error="invalid sign-in token")
                algorithms = JWKS_ALGORITHMS
            else:
                key, algorithms = self.secret, [ALGORITHM]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["sub", "exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWKClientConnectionError:
            return Identity(error="sign-in cannot be checked right now; try again shortly")
        except jwt.ExpiredSignatureError:
            return Identity(error="your sign-in has expired; sign in again")
        except jwt.InvalidIssuerError:
            return Identity(error="sign-in token from an unknown issuer")
        except (jwt.InvalidTokenError, jwt.PyJWKClientError):
            return Identity(error="invalid sign-in token")
        if not self._for_us(claims):
            return Identity(error="sign-in token is not for this service")
        return Identity(customer_id=str(claims["sub"]), expires_at=float(claims["exp"]) + self.leeway_s)

    def _for_us(self, claims: dict[str, object]) -> bool:
        aud = claims.get("aud")
        if aud is not None:
            return aud == self.audience or (isinstance(aud, list) and self.audience in aud)
        # Cognito access tokens name the app client instead of an audience.
        return claims.get("token_use") == "access" and claims.get("client_id") == self.audience


def issue_token(
    secret: str,
    customer_id: str,
    ttl_s: float = 3600.0,
    *,
    issuer: str = LOCAL_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    """A signed token for ``customer_id`` (what the store's sign-in service would hand out)."""
    now = int(time.time())
    return jwt.encode(
        {"sub": customer_id, "iss": issuer, "aud": audience, "iat": now, "exp": now + int(ttl_s)},
        secret,
        algorithm=ALGORITHM,
    )
