#!/usr/bin/env python3
"""Holds many idle connections open to a proxy and reports what they cost it in RSS.

Each connection is opened, brought to the state a real idle client leaves it in, and then
left alone while the proxy's resident set size is read from /proc:

  raw    connected, nothing sent (the listener is still waiting for bytes to sniff)
  bolt   one Bolt v1 request (the golden vector) answered, then idle (a served RPC client)
  http1  one HTTP/1.1 GET answered, then idle (a keep-alive client)
  http2  the prior-knowledge preface and SETTINGS exchanged, then idle

Prints one Markdown table row (mode, connections, the proxy's RSS before and with them and
the difference in MiB, bytes per connection), or with --json one JSON line. Needs only the Python standard library.
Run by benches/idle.sh, which starts the proxy and its backends.
"""

import argparse
import asyncio
import json
import pathlib
import resource
import sys

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "testdata" / "vectors"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def bolt_request() -> bytes:
    text = (VECTORS / "bolt-v1-request.hex").read_text()
    hex_digits = "".join(
        part for line in text.splitlines() for part in line.split("#")[0].split()
    )
    return bytes.fromhex(hex_digits)


async def read_http1_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)


async def open_one(host: str, port: int, mode: str, bolt: bytes, timeout: float):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    if mode == "bolt":
        writer.write(bolt)
        await writer.drain()
        # A Bolt v1 response: 20 fixed bytes ending in the class, header and content lengths.
        head = await asyncio.wait_for(reader.readexactly(20), timeout)
        class_len = int.from_bytes(head[12:14], "big")
        header_len = int.from_bytes(head[14:16], "big")
        content_len = int.from_bytes(head[16:20], "big")
        await asyncio.wait_for(reader.readexactly(class_len + header_len + content_len), timeout)
    elif mode == "http1":
        writer.write(b"GET /idle HTTP/1.1\r\nHost: idle.test\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(read_http1_response(reader), timeout)
    elif mode == "http2":
        writer.write(H2_PREFACE + H2_EMPTY_SETTINGS)
        await writer.drain()
        # The server's SETTINGS frame (its first frame), then acknowledge it.
        header = await asyncio.wait_for(reader.readexactly(9), timeout)
        await asyncio.wait_for(reader.readexactly(int.from_bytes(header[:3], "big")), timeout)
        writer.write(H2_SETTINGS_ACK)
        await writer.drain()
    return reader, writer


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="host:port of the proxy")
    parser.add_argument("--pid", type=int, required=True, help="the proxy's process id")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--mode", choices=["raw", "bolt", "http1", "http2"], default="raw")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait before reading RSS")
    parser.add_argument("--timeout", type=float, default=20.0, help="per-connection setup limit")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of a table row")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 64:
        print(f"idle.py: open-file limit {hard} is too low for {args.connections}", file=sys.stderr)
        return 2

    bolt = bolt_request()
    before = rss_kib(args.pid)
    held = []
    # Open in batches so the proxy's accept queue is never the limit.
    for start in range(0, args.connections, 500):
        batch = range(start, min(start + 500, args.connections))
        held.extend(
            await asyncio.gather(
                *(open_one(host, int(port), args.mode, bolt, args.timeout) for _ in batch)
            )
        )
    await asyncio.sleep(args.settle)
    with_them = rss_kib(args.pid)
    for _, writer in held:
        writer.close()
    result = {
        "mode": args.mode,
        "connections": len(held),
        "rss_before_kib": before,
        "rss_with_kib": with_them,
        "bytes_per_connection": round((with_them - before) * 1024 / len(held)),
    }
    if args.json:
        print(json.dumps(result))
    else:
        b, w = before / 1024, with_them / 1024
        print(f"| {args.mode} | {len(held)} | {b:.1f} | {w:.1f} | {w - b:.1f} "
              f"| {result['bytes_per_connection']} |")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
