"""Who is asking: customer identity from a signed token on the WebSocket connection.

Tokens are JWTs (HS256 here, via PyJWT) carrying the customer id in ``sub``; they arrive
as ``Authorization: Bearer …`` or, for browsers (which cannot set headers on a
WebSocket), the ``token`` query parameter. No token means an anonymous shopper, who can
browse but never sees orders or another customer's session. A token that does not
verify makes every query on that connection fail with ``unauthorized``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jwt

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Identity:
    customer_id: str | None = None
    error: str | None = None  # set when a token was presented and rejected


class TokenVerifier:
    def __init__(self, secret: str | None) -> None:
        self._secret = secret

    def identify(self, path: str, authorization: str | None) -> Identity:
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        else:
            values = parse_qs(urlsplit(path).query).get("token")
            token = values[0] if values else None
        if not token:
            return Identity()
        if not self._secret:
            return Identity(error="sign-in is not configured on this server")
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
        except jwt.ExpiredSignatureError:
            return Identity(error="your sign-in has expired; sign in again")
        except jwt.InvalidTokenError:
            return Identity(error="invalid sign-in token")
        return Identity(customer_id=str(claims["sub"]))


def issue_token(secret: str, customer_id: str, ttl_s: float = 3600.0) -> str:
    """A signed token for ``customer_id`` (what the store's sign-in service would hand out)."""
    now = int(time.time())
    return jwt.encode({"sub": customer_id, "iat": now, "exp": now + int(ttl_s)}, secret, algorithm=ALGORITHM)
