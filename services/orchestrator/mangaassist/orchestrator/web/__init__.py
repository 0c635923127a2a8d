"""The customer's chat window: a static page served by the orchestrator at ``GET /``.

The page (``index.html``, ``app.js``, ``app.css``, ``favicon.svg`` in this folder) is
plain HTML, CSS and dependency-free JavaScript that speaks the contract's WebSocket at
``/ws``. ``StaticSite`` loads the files once at start and serves only that fixed set,
so no request path ever reaches the file system (no directory traversal by design).

Assets are served under content-hashed names (``/static/app.<hash>.js``) and cached for
a year as immutable; the page itself is revalidated (``no-cache`` + ``ETag``) so a new
deploy is picked up at the next load. Every response carries a strict
Content-Security-Policy: scripts, styles, images and connections from this origin only,
no inline code, no framing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response

WEB_DIR = Path(__file__).parent

# 'self' in connect-src also covers ws:// / wss:// on the page's own host and port (CSP 3).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSETS = ("app.js", "app.css", "favicon.svg")
PAGE = "index.html"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    cache_control: str
    etag: str


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def hashed_name(name: str, body: bytes) -> str:
    """``app.js`` → ``app.<12 hex of sha256>.js``: the URL changes whenever the bytes do."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}{dot}{suffix}"


class StaticSite:
    """The chat page and its assets, held in memory and served by exact path only."""

    def __init__(self, root: Path = WEB_DIR) -> None:
        self._files: dict[str, Asset] = {}
        page = (root / PAGE).read_text(encoding="utf-8")
        for name in ASSETS:
            body = (root / name).read_bytes()
            url = f"/static/{hashed_name(name, body)}"
            placeholder = f"/static/{name}"
            if placeholder not in page:
                raise ValueError(f"{PAGE} does not reference {placeholder}")
            page = page.replace(placeholder, url)
            self._files[url] = Asset(body, CONTENT_TYPES[Path(name).suffix], IMMUTABLE, _etag(body))
        html = page.encode("utf-8")
        self._files["/"] = Asset(html, CONTENT_TYPES[".html"], REVALIDATE, _etag(html))

    @property
    def paths(self) -> list[str]:
        return sorted(self._files)

    def response(self, path: str, request_headers: Headers) -> Response | None:
        """The response for ``path`` (no query string), or None when it is not ours."""
        asset = self._files.get(path)
        if asset is None:
            return None
        headers = Headers([*SECURITY_HEADERS, ("Cache-Control", asset.cache_control), ("ETag", asset.etag)])
        if request_headers.get("If-None-Match") == asset.etag:
            return Response(HTTPStatus.NOT_MODIFIED.value, HTTPStatus.NOT_MODIFIED.phrase, headers, b"")
        headers["Content-Type"] = asset.content_type
        headers["Content-Length"] = str(len(asset.body))
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, asset.body)
