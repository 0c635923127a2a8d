"""What the orchestrator serves at ``GET /``: content types, CSP, caching, nothing else."""

from __future__ import annotations

import http.client
import re

from mangaassist.devtools.cluster import Cluster
from mangaassist.orchestrator.web import CONTENT_SECURITY_POLICY


def get(cluster: Cluster, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw GET: ``path`` goes on the wire exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port["orchestrator"], timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_page_has_strict_csp_and_no_inline_code(cluster: Cluster) -> None:
    status, headers, body = get(cluster, "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-cache" and headers["etag"]
    html = body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert "<style" not in html and not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "third-party reference"
    # Revalidation: the same ETag gets an empty 304.
    status, _, body = get(cluster, "/", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""


def test_assets_have_hashed_names_content_types_and_long_cache(cluster: Cluster) -> None:
    html = get(cluster, "/")[2].decode()
    assets = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)
    expected = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    assert {a[a.rindex(".") :] for a in assets} == set(expected)
    for path in assets:
        assert re.fullmatch(r"/static/[a-z]+\.[0-9a-f]{12}\.(js|css|svg)", path), path
        status, headers, body = get(cluster, path)
        assert status == 200 and body
        assert headers["content-type"] == expected[path[path.rindex(".") :]]
        assert headers["cache-control"] == "public, max-age=31536000, immutable"
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_unknown_paths_and_traversal_are_404(cluster: Cluster) -> None:
    for path in [
        "/nope",
        "/static/app.js",
        "/index.html",
        "/static/",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/../../etc/passwd",
        "//etc/passwd",
        "/static/..%2f__init__.py",
        "/web/app.js",
    ]:
        status, headers, body = get(cluster, path)
        assert status == 404, path
        assert headers["content-type"] == "application/json"
        assert b"app.py" not in body and b"root:" not in body
