"""Terminal chat client: ``python -m mangaassist.orchestrator.client "question"``.

Streams one answer as it arrives, then prints the products and per-segment timings.
Exit status 0 on ``done``, 1 on an ``error`` frame, 2 when the server is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from websockets.asyncio.client import connect


async def ask(
    url: str, text: str, session_id: str | None, filters: dict[str, Any] | None, token: str | None = None
) -> int:
    frame: dict[str, Any] = {"type": "query", "request_id": f"cli-{uuid.uuid4().hex[:8]}", "text": text}
    if session_id:
        frame["session_id"] = session_id
    if filters:
        frame["filters"] = filters
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with connect(url, compression=None, additional_headers=headers) as ws:
        await ws.send(json.dumps(frame, ensure_ascii=False))
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "token":
                print(event["text"], end="", flush=True)
            elif event["type"] == "done":
                print()
                print(
                    f"\n[{event['intent']} · model={event['model']} · cache_hit={event['cache_hit']} · "
                    f"session={event['session_id']}]"
                )
                for p in event.get("products", []):
                    stock = "in stock" if p.get("in_stock") else "out of stock"
                    print(f"  {p.get('asin')}  {p.get('title')}  ¥{p.get('price_jpy', '?')}  {stock}")
                timings = ", ".join(f"{k}={v:.1f}" for k, v in event.get("timings_ms", {}).items())
                print(f"  timings_ms: {timings}")
                return 0
            elif event["type"] == "error":
                print(f"\n[error {event['code']}] {event['message']} (retryable={event['retryable']})", file=sys.stderr)
                return 1
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("text", help="the question")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--session", default=None, help="continue this session id")
    parser.add_argument("--filters", default=None, help="JSON, e.g. '{\"max_price_jpy\": 1000}'")
    parser.add_argument("--token", default=None, help="customer sign-in token (for order questions)")
    args = parser.parse_args()
    filters = json.loads(args.filters) if args.filters else None
    try:
        return asyncio.run(ask(args.url, args.text, args.session, filters, args.token))
    except OSError as exc:
        print(f"cannot reach {args.url}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
