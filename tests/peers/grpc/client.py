#!/usr/bin/env python3
"""A real grpcio client (no generated code) for the gateway's gRPC interop tests.

Usage: client.py TARGET KIND [ARGS...] [--timeout SECONDS] [--metadata KEY=VALUE]...
                 [--path /pkg.Service/Method]

TARGET is host:port (plaintext HTTP/2). KIND and ARGS, against service xproxy.test.Echo:
  unary [PAYLOAD]          Unary with PAYLOAD (default "hello"); "fail:NOT_FOUND" fails
  server_stream [N]        ServerStream asking for N replies (default 3)
  client_stream [MSG...]   ClientStream sending each MSG (default a b c)
  bidi [MSG...]            Bidi, sending one MSG, waiting for its echo, then the next
                           (default a b c), so replies prove the stream is not buffered
  slow [MS]                Slow sleeping MS milliseconds (default 1000); with --timeout
                           shorter than that, the call ends DEADLINE_EXCEEDED
  paced N MS               N Unary calls on one channel, one every MS milliseconds without
                           waiting for replies (a fixed rate); prints {"event": "invoking"}
                           first, then {"n", "codes": {status: count}, "details": {status:
                           [first distinct details]}}
--size N makes the unary payload N bytes of "x" (replies longer than 64 bytes are reported as
"<N bytes>"); --repeat N makes N unary calls on one channel, stopping at the first failure.
--timeout sets the call's deadline (sent as grpc-timeout); --metadata adds request metadata
(repeatable); --path overrides the method path of any kind (e.g. to get UNIMPLEMENTED).

Prints one JSON line: {"code": "OK" or the status name, "details": str, "replies": [str],
"metadata": {initial metadata}, "trailing_metadata": {...}, "elapsed_ms": float}.
Replies are decoded as UTF-8 (invalid bytes replaced). Exit status 0 whenever a status was
received, including an RPC error (the JSON says which); 2 if HARD_LIMIT seconds (env, default
60) pass without one; 64 on bad usage.
"""

import argparse
import json
import os
import queue
import signal
import sys
import time

import grpc

SERVICE = "xproxy.test.Echo"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
KINDS = {
    "unary": ("Unary", "unary_unary"),
    "server_stream": ("ServerStream", "unary_stream"),
    "client_stream": ("ClientStream", "stream_unary"),
    "bidi": ("Bidi", "stream_stream"),
    "slow": ("Slow", "unary_unary"),
    "paced": ("Unary", "unary_unary"),
}


def identity(data):
    return data


def metadata_dict(pairs):
    out = {}
    for key, value in pairs or ():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        out[key] = value
    return out


def paced(method, args):
    n, every = int(args.args[0]), int(args.args[1])
    method(b"warm", timeout=5)
    sys.stdout.write(json.dumps({"event": "invoking", "calls": n}) + "\n")
    sys.stdout.flush()
    futures = []
    for i in range(n):
        futures.append(method.future(("paced-%d" % i).encode(), timeout=5))
        time.sleep(every / 1000.0)
    codes, details = {}, {}
    for i, future in enumerate(futures):
        try:
            reply = future.result()
            code = "OK" if reply == ("paced-%d" % i).encode() else "WRONG_REPLY"
        except grpc.RpcError as error:
            code = error.code().name
            seen = details.setdefault(code, [])
            if error.details() not in seen and len(seen) < 5:
                seen.append(error.details())
        codes[code] = codes.get(code, 0) + 1
    return {"n": n, "codes": codes, "details": details}


def run(args):
    method_name, shape = KINDS[args.kind]
    path = args.path or "/%s/%s" % (SERVICE, method_name)
    metadata = []
    for pair in args.metadata:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(64)
        metadata.append((key, value))
    channel = grpc.insecure_channel(
        args.target,
        options=(
            ("grpc.enable_http_proxy", 0),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ),
    )
    method = getattr(channel, shape)(
        path, request_serializer=identity, response_deserializer=identity
    )
    if args.kind == "paced":
        result = paced(method, args)
        channel.close()
        return result
    kwargs = {"timeout": args.timeout, "metadata": metadata or None}
    replies = []
    call = None
    started = time.monotonic()
    try:
        if args.kind in ("unary", "slow"):
            default = "hello" if args.kind == "unary" else "1000"
            payload = (args.args[0] if args.args else default).encode("utf-8")
            if args.size is not None:
                payload = b"x" * args.size
            for _ in range(args.repeat - 1):
                # Earlier calls of a --repeat run: each must succeed, or its status is the
                # result.
                reply, call = method.with_call(payload, **kwargs)
                replies.append(reply)
            reply, call = method.with_call(payload, **kwargs)
            replies.append(reply)
        elif args.kind == "server_stream":
            count = (args.args[0] if args.args else "3").encode("ascii")
            call = method(count, **kwargs)
            for reply in call:
                replies.append(reply)
        elif args.kind == "client_stream":
            messages = [m.encode("utf-8") for m in (args.args or ["a", "b", "c"])]
            reply, call = method.with_call(iter(messages), **kwargs)
            replies.append(reply)
        else:  # bidi: lock-step, one message out, its echo back, then the next
            outbox = queue.Queue()
            done = object()

            def requests():
                while True:
                    item = outbox.get()
                    if item is done:
                        return
                    yield item

            call = method(requests(), **kwargs)
            try:
                for message in args.args or ["a", "b", "c"]:
                    outbox.put(message.encode("utf-8"))
                    reply = next(call, None)
                    if reply is None:  # the server ended the call early
                        break
                    replies.append(reply)
            finally:
                outbox.put(done)  # half-close, also on error, so no thread waits forever
            for reply in call:  # anything unexpected after the last echo
                replies.append(reply)
        code, details = grpc.StatusCode.OK, call.details() or ""
    except grpc.RpcError as error:
        call = error if isinstance(error, grpc.Call) else call
        code, details = error.code(), error.details() or ""
    elapsed_ms = (time.monotonic() - started) * 1000.0
    initial = trailing = None
    if call is not None:
        try:
            initial, trailing = call.initial_metadata(), call.trailing_metadata()
        except Exception:  # noqa: BLE001 - metadata is best effort on a failed call
            pass
    channel.close()
    return {
        "code": code.name,
        "details": details,
        "replies": [
            r.decode("utf-8", "replace") if len(r) <= 64 else "<%d bytes>" % len(r)
            for r in replies
        ],
        "metadata": metadata_dict(initial),
        "trailing_metadata": metadata_dict(trailing),
        "elapsed_ms": round(elapsed_ms, 1),
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target")
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("args", nargs="*")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--metadata", action="append", default=[])
    parser.add_argument("--path", default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit:
        return 64

    def hard_limit(_signum, _frame):
        sys.stderr.write("client: no status within the hard limit\n")
        os._exit(2)

    signal.signal(signal.SIGALRM, hard_limit)
    signal.alarm(int(os.environ.get("HARD_LIMIT", "60")))
    result = run(args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
