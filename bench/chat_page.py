"""Chat-page benchmark: what the browser adds on top of the WebSocket, side by side.

Starts the local cluster on ephemeral ports (emulator token delay 0) and headless
Chromium. Each round opens the page in a fresh browser context (cold load: navigation
until the socket is open, and the bytes the page fetched), then asks the 16-query JP/EN
mix alternately through the page (submit → first token rendered → done rendered, timed
inside the page) and through a plain Python WebSocket client (send → first token → done
frame), so both see the same load. Prints p50/p95 and writes ``bench/results/chat_page.json``.

    python -m bench.chat_page [--rounds 5]
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Response, async_playwright
from websockets.asyncio.client import ClientConnection, connect

from bench.common import REPO, pct, save_result, stamp, whole_number_options
from bench.e2e import QUERIES
from mangaassist.devtools.browser import CHROMIUM_ARGS, chromium_path
from mangaassist.devtools.cluster import Cluster

# Submits one question through the page's own form and resolves when its turn is finished.
ASK_IN_PAGE = """async (text) => {
  const log = document.getElementById('log');
  const n = log.querySelectorAll('.turn').length;
  return await new Promise((resolve) => {
    let t0 = 0, first = null;
    const obs = new MutationObserver(() => {
      const turn = log.querySelectorAll('.turn')[n];
      if (!turn) return;
      if (first === null && turn.querySelector('.answer-text').textContent) first = performance.now() - t0;
      if (turn.classList.contains('done') || turn.classList.contains('failed')) {
        obs.disconnect();
        resolve({first, done: performance.now() - t0, ok: turn.classList.contains('done')});
      }
    });
    obs.observe(log, {subtree: true, childList: true, characterData: true, attributes: true,
                      attributeFilter: ['class']});
    document.getElementById('question').value = text;
    t0 = performance.now();
    document.getElementById('ask').requestSubmit();
  });
}"""


async def ask_client(ws: ClientConnection, i: int, text: str) -> dict[str, Any]:
    request_id = f"c{i}"
    sent = time.perf_counter()
    await ws.send(json.dumps({"type": "query", "request_id": request_id, "text": text}, ensure_ascii=False))
    first = None
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("request_id") != request_id:
            continue
        if first is None:
            first = (time.perf_counter() - sent) * 1000
        if frame["type"] in ("done", "error"):
            return {"first": first, "done": (time.perf_counter() - sent) * 1000, "ok": frame["type"] == "done"}


async def run(browser: Browser, cluster: Cluster, rounds: int) -> dict[str, Any]:
    base = f"http://{cluster.address('orchestrator')}/"
    loads: list[float] = []
    page_bytes: list[int] = []
    page: dict[str, list[float]] = {"first": [], "done": []}
    client: dict[str, list[float]] = {"first": [], "done": []}
    errors = {"page": 0, "client": 0}
    async with connect(cluster.ws_url, compression=None) as ws:
        for r in range(rounds):
            context = await browser.new_context()
            tab = await context.new_page()
            sizes: list[int] = []

            def on_response(resp: Response, sizes: list[int] = sizes) -> None:
                sizes.append(int(resp.headers.get("content-length", "0")))

            tab.on("response", on_response)
            started = time.perf_counter()
            await tab.goto(base)
            await tab.wait_for_selector('#conn[data-state="open"]')
            loads.append((time.perf_counter() - started) * 1000)
            page_bytes.append(sum(sizes))
            for i, query in enumerate(QUERIES):
                text = str(query["text"])
                # Alternate which goes first so neither always sees a warmer cluster.
                order = ("page", "client") if (r + i) % 2 == 0 else ("client", "page")
                for who in order:
                    if who == "page":
                        got = await tab.evaluate(ASK_IN_PAGE, text)
                        into = page
                    else:
                        got = await ask_client(ws, r * 100 + i, text)
                        into = client
                    if not got["ok"]:
                        errors[who] += 1
                        continue
                    into["first"].append(float(got["first"]))
                    into["done"].append(float(got["done"]))
            await context.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50": round(pct(values, 50), 2), "p95": round(pct(values, 95), 2), "n": len(values)}

    return {
        "page_load_to_connected_ms": summary(loads),
        "page_bytes": max(page_bytes),
        "page": {k: summary(v) for k, v in page.items()},
        "client": {k: summary(v) for k, v in client.items()},
        "errors": errors,
    }


async def measure(executable: str, cluster: Cluster, rounds: int) -> dict[str, Any]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            return await run(browser, cluster, rounds)
        finally:
            await browser.close()


def main() -> None:
    args = whole_number_options(description=__doc__, rounds=5)
    executable = chromium_path()
    if executable is None:
        raise SystemExit("no chromium: run `make browser`")
    env = {
        "MANGAASSIST_INFERENCE_TOKEN_DELAY_MS": "0",
        "MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index"),
    }
    with tempfile.TemporaryDirectory() as logs:
        cluster = Cluster(env=env, log_dir=Path(logs)).start()
        try:
            result = asyncio.run(measure(executable, cluster, args.rounds))
        finally:
            cluster.stop()

    print(
        f"\nchat page: {result['page_bytes']} bytes over the wire, cold load to connected "
        f"p50 {result['page_load_to_connected_ms']['p50']} ms / p95 {result['page_load_to_connected_ms']['p95']} ms"
    )
    print(f"{'ms':<28}{'page p50':>10}{'page p95':>10}{'client p50':>12}{'client p95':>12}")
    for key, label in (("first", "first token (rendered)"), ("done", "answer done (rendered)")):
        p, c = result["page"][key], result["client"][key]
        print(f"{label:<28}{p['p50']:>10}{p['p95']:>10}{c['p50']:>12}{c['p95']:>12}")
    print(f"errors: {result['errors']}")
    save_result({**stamp("chat_page"), "rounds": args.rounds, "queries_per_round": len(QUERIES), **result})


if __name__ == "__main__":
    main()
