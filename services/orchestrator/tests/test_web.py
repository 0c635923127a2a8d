"""StaticSite: which paths exist, their headers, and revalidation (no sockets needed)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from websockets.datastructures import Headers

from mangaassist.orchestrator.web import CONTENT_SECURITY_POLICY, WEB_DIR, StaticSite, hashed_name


def test_serves_exactly_the_page_and_its_hashed_assets() -> None:
    site = StaticSite()
    paths = site.paths
    assert paths[0] == "/" and len(paths) == 4
    page = site.response("/", Headers())
    assert page is not None and page.body is not None
    for path in paths[1:]:
        assert re.fullmatch(r"/static/(app|favicon)\.[0-9a-f]{12}\.(js|css|svg)", path)
        assert path.encode() in page.body  # the page links the hashed name
    for path in ["/static/app.js", "/index.html", "/static/../app.py", "", "/static/"]:
        assert site.response(path, Headers()) is None


def test_every_response_carries_the_csp_and_matching_etag_gives_304() -> None:
    site = StaticSite()
    for path in site.paths:
        resp = site.response(path, Headers())
        assert resp is not None and resp.status_code == 200
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        again = site.response(path, Headers([("If-None-Match", resp.headers["ETag"])]))
        assert again is not None and again.status_code == 304 and again.body == b""
        stale = site.response(path, Headers([("If-None-Match", '"other"')]))
        assert stale is not None and stale.status_code == 200


def test_hashed_name_changes_with_content() -> None:
    assert hashed_name("app.js", b"a") != hashed_name("app.js", b"b")
    assert hashed_name("app.js", b"a").startswith("app.") and hashed_name("app.js", b"a").endswith(".js")


def test_page_that_forgets_an_asset_fails_at_start(tmp_path: Path) -> None:
    for f in WEB_DIR.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    html = (tmp_path / "index.html").read_text()
    (tmp_path / "index.html").write_text(html.replace("/static/app.css", "/elsewhere.css"))
    with pytest.raises(ValueError, match=r"app\.css"):
        StaticSite(tmp_path)
