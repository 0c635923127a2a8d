"""Customer identity from sign-in tokens on the WebSocket connection (local key; the JWKS
path is in test_signin.py, against a real key server)."""

from __future__ import annotations

import jwt

from mangaassist.orchestrator.auth import (
    DEFAULT_AUDIENCE,
    LOCAL_ISSUER,
    Identity,
    TokenVerifier,
    anonymous_key,
    anonymous_secret,
    issue_token,
    new_anonymous_secret,
)

SECRET = "unit-test-key-0123456789abcdefghijklmnop"


def claims(**extra: object) -> dict[str, object]:
    return {"sub": "cust-7", "iss": LOCAL_ISSUER, "aud": DEFAULT_AUDIENCE, "exp": 4_102_444_800, **extra}


async def test_valid_token_by_header_or_query_parameter() -> None:
    token = issue_token(SECRET, "cust-7")
    verifier = TokenVerifier(SECRET)
    assert (await verifier.identify("/ws", f"Bearer {token}")).customer_id == "cust-7"
    assert (await verifier.identify(f"/ws?token={token}", None)).customer_id == "cust-7"


async def test_no_token_is_anonymous_without_error_unless_sign_in_is_required() -> None:
    identity = await TokenVerifier(SECRET).identify("/ws", None)
    assert identity.customer_id is None and identity.error is None
    required = await TokenVerifier(SECRET, allow_anonymous=False).identify("/ws", None)
    assert required.refusal() == "sign in to chat"


async def test_forged_expired_or_unconfigured_tokens_are_rejected() -> None:
    verifier = TokenVerifier(SECRET, leeway_s=0)
    assert (await verifier.identify("/ws", f"Bearer {issue_token('other-key-0123456789abcdefghijklmnopq', 'c')}")).error
    assert (await verifier.identify("/ws", "Bearer not-a-jwt")).error
    expired = jwt.encode(claims(exp=1), SECRET, algorithm="HS256")
    assert "expired" in ((await verifier.identify("/ws", f"Bearer {expired}")).error or "")
    no_exp = jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET, algorithm="HS256")
    assert (await verifier.identify("/ws", f"Bearer {no_exp}")).error
    assert (await TokenVerifier(None).identify("/ws", f"Bearer {issue_token(SECRET, 'x')}")).error


async def test_issuer_and_audience_are_checked() -> None:
    verifier = TokenVerifier(SECRET)
    for bad in (
        claims(iss="https://evil.example"),
        claims(aud="another-app"),
        {k: v for k, v in claims().items() if k != "iss"},
        {k: v for k, v in claims().items() if k != "aud"},
    ):
        identity = await verifier.identify("/ws", f"Bearer {jwt.encode(bad, SECRET, algorithm='HS256')}")
        assert identity.customer_id is None and identity.error, bad
    # A Cognito access token names its app client instead of an audience.
    access = {k: v for k, v in claims(token_use="access", client_id=DEFAULT_AUDIENCE).items() if k != "aud"}
    assert (await verifier.identify("/ws", f"Bearer {jwt.encode(access, SECRET, algorithm='HS256')}")).customer_id
    other_client = {**access, "client_id": "another-app"}
    assert (await verifier.identify("/ws", f"Bearer {jwt.encode(other_client, SECRET, algorithm='HS256')}")).error


def test_expiry_is_judged_at_each_question() -> None:
    identity = Identity(customer_id="cust-7", expires_at=1_000.0)
    assert identity.refusal(now=999.0) is None
    assert "expired" in (identity.refusal(now=1_000.0) or "")


def test_anonymous_owner_is_a_hash_of_the_browser_secret() -> None:
    secret = new_anonymous_secret()
    assert anonymous_secret(f"theme=dark; mangaassist_anon={secret}") == secret
    assert anonymous_secret("mangaassist_anon=short") is None and anonymous_secret(None) is None
    owner = Identity(anonymous_key=anonymous_key(secret)).owner
    assert owner is not None and owner.startswith("anon#") and secret not in owner
    assert Identity(customer_id="cust-7", anonymous_key=anonymous_key(secret)).owner == "cust-7"
