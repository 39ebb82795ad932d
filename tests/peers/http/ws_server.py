#!/usr/bin/env python3
"""A real WebSocket echo server (the `websockets` library) for the gateway's HTTP tests.

Usage: ws_server.py [LIFETIME_SECONDS]
  Binds 127.0.0.1 on a free port, prints "READY <port>" on stdout (flushed), and exits 0 when
  LIFETIME_SECONDS (default 60) have passed, whatever its clients do. Its stdin may be
  /dev/null: it does not read it.

On each connection it first sends one text message, a JSON object describing the handshake it
received: {"path": ..., "x_forwarded_for": ..., "x_route": ...}. Then:
  a text message "push N"  is answered with N text messages "pushed 0" ... "pushed N-1"
  any other message         is echoed back unchanged (text as text, binary as binary)
"""

import asyncio
import json
import sys

from websockets.asyncio.server import serve


async def handler(connection):
    headers = connection.request.headers
    await connection.send(
        json.dumps(
            {
                "path": connection.request.path,
                "x_forwarded_for": headers.get("X-Forwarded-For"),
                "x_route": headers.get("X-Route"),
            }
        )
    )
    async for message in connection:
        if isinstance(message, str) and message.startswith("push "):
            for i in range(int(message.split()[1])):
                await connection.send(f"pushed {i}")
        else:
            await connection.send(message)


async def main():
    lifetime = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    asyncio.run(main())
