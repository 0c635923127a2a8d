"""Customer identity from sign-in tokens on the WebSocket connection."""

from __future__ import annotations

import jwt

from mangaassist.orchestrator.auth import TokenVerifier, issue_token

SECRET = "unit-test-key-0123456789abcdefghijklmnop"


def test_valid_token_by_header_or_query_parameter() -> None:
    token = issue_token(SECRET, "cust-7")
    verifier = TokenVerifier(SECRET)
    assert verifier.identify("/ws", f"Bearer {token}").customer_id == "cust-7"
    assert verifier.identify(f"/ws?token={token}", None).customer_id == "cust-7"


def test_no_token_is_anonymous_without_error() -> None:
    identity = TokenVerifier(SECRET).identify("/ws", None)
    assert identity.customer_id is None and identity.error is None


def test_forged_expired_or_unconfigured_tokens_are_rejected() -> None:
    verifier = TokenVerifier(SECRET)
    assert verifier.identify("/ws", f"Bearer {issue_token('other-key-0123456789abcdefghijklmnopq', 'cust-7')}").error
    assert verifier.identify("/ws", "Bearer not-a-jwt").error
    expired = jwt.encode({"sub": "cust-7", "exp": 1}, SECRET, algorithm="HS256")
    assert "expired" in (verifier.identify("/ws", f"Bearer {expired}").error or "")
    no_exp = jwt.encode({"sub": "cust-7"}, SECRET, algorithm="HS256")
    assert verifier.identify("/ws", f"Bearer {no_exp}").error
    assert TokenVerifier(None).identify("/ws", f"Bearer {issue_token(SECRET, 'x')}").error
