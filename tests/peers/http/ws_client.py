#!/usr/bin/env python3
"""A real WebSocket client (the `websockets` library) for the gateway's HTTP tests.

Usage: ws_client.py URL [COUNT]
  Connects to URL (ws://host:port/path), reads the server's greeting (see ws_server.py), sends
  COUNT (default 5) text messages and as many binary ones, each awaited before the next, then
  asks the server to push COUNT messages of its own, and closes.

Prints one JSON line: {"ok": bool, "greeting": {...}, "text_echoed": n, "binary_echoed": n,
"pushed": n, "error": str or null}. "ok" is true when every message came back as sent.
Exit status 0 when the JSON was printed; the whole run is bounded by HARD_LIMIT seconds (env,
default 20), after which it reports "ok": false.
"""

import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect


async def exchange(url, count, result):
    async with connect(url, open_timeout=5, close_timeout=2) as ws:
        result["greeting"] = json.loads(await ws.recv())
        for i in range(count):
            text = f"message {i} " + "x" * (i * 1000)
            await ws.send(text)
            if await ws.recv() == text:
                result["text_echoed"] += 1
        for i in range(count):
            data = bytes((i + j) % 256 for j in range(70000 + i))
            await ws.send(data)
            if await ws.recv() == data:
                result["binary_echoed"] += 1
        await ws.send(f"push {count}")
        for i in range(count):
            if await ws.recv() == f"pushed {i}":
                result["pushed"] += 1


async def main():
    url = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    limit = float(os.environ.get("HARD_LIMIT", "20"))
    result = {"ok": False, "greeting": None, "text_echoed": 0, "binary_echoed": 0,
              "pushed": 0, "error": None}
    try:
        await asyncio.wait_for(exchange(url, count, result), limit)
        result["ok"] = (result["text_echoed"], result["binary_echoed"], result["pushed"]) == (
            count,
            count,
            count,
        )
    except Exception as e:  # reported in the JSON line, for the test's message
        result["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
