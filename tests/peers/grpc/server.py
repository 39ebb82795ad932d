#!/usr/bin/env python3
"""A real grpcio server (no generated code) for the gateway's gRPC interop tests.

Usage: server.py [PORT [LIFETIME_SECONDS]]
  PORT 0 (default) picks a free port on 127.0.0.1; LIFETIME_SECONDS defaults to 300.

Prints exactly one line, "READY <port>", on stdout (flushed) once bound, nothing else.
Exits 0 when stdin reaches end of file (so the parent closing its pipe, or dying, stops it),
unless IGNORE_STDIN=1 is set; with FAIL_WITH=<STATUS NAME> every Unary call fails with that
status (a backend in trouble, for retry tests), (the test harness starts peers with stdin at /dev/null and
kills them itself), and 3 when its lifetime is over.

Service xproxy.test.Echo, raw bytes in and out (identity serializers):
  Unary         echoes the request; echoes request metadata "x-echo" as initial metadata;
                a request "fail:NAME[:DETAILS]" ends with status NAME (e.g. NOT_FOUND) and
                details DETAILS (default "requested NAME")
  ServerStream  request is an ASCII count n: replies b"0", b"1", ..., n messages
  ClientStream  replies with all requests concatenated
  Bidi          echoes each message as it arrives
  Slow          sleeps the milliseconds given (ASCII) in the request, then echoes it; stops
                early, without replying, if the call is cancelled or its deadline passes
"""

import os
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "xproxy.test.Echo"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def identity(data):
    return data


def parse_count(request, context):
    try:
        return int(request.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request is not an ASCII number")
    return 0  # not reached: abort raises


def unary(request, context):
    fail_with = os.environ.get("FAIL_WITH")
    if fail_with:
        # A backend in trouble: every unary call fails with this status (retry tests).
        context.abort(grpc.StatusCode.__members__[fail_with], "this backend fails every call")
    for key, value in context.invocation_metadata():
        if key == "x-echo":
            context.send_initial_metadata((("x-echo", value),))
            break
    if request.startswith(b"fail:"):
        name, _, details = request[len(b"fail:"):].decode("utf-8", "replace").partition(":")
        code = grpc.StatusCode.__members__.get(name)
        if code is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no status code named " + name)
        if code is not grpc.StatusCode.OK:
            context.abort(code, details or "requested " + name)
    return request


def server_stream(request, context):
    for i in range(parse_count(request, context)):
        yield str(i).encode("ascii")


def client_stream(request_iterator, context):
    return b"".join(request_iterator)


def bidi(request_iterator, context):
    for message in request_iterator:
        yield message


def slow(request, context):
    deadline = time.monotonic() + parse_count(request, context) / 1000.0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return request
        if not context.is_active():
            return b""  # cancelled or past its deadline: grpcio sends nothing
        time.sleep(min(left, 0.01))


def main(argv):
    port = int(argv[1]) if len(argv) > 1 else 0
    lifetime = float(argv[2]) if len(argv) > 2 else 300.0

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, identity, identity),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, identity, identity),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, identity, identity),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi, identity, identity),
            "Slow": grpc.unary_unary_rpc_method_handler(slow, identity, identity),
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        handlers=(handler,),
        options=(
            # grpcio sets SO_REUSEPORT by default: two servers could then share a fixed port.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ),
    )
    try:
        bound = server.add_insecure_port("127.0.0.1:%d" % port)
    except RuntimeError:  # grpcio raises when the port is taken
        bound = 0
    if bound == 0:
        sys.stderr.write("server: cannot bind 127.0.0.1:%d\n" % port)
        return 1
    server.start()
    sys.stdout.write("READY %d\n" % bound)
    sys.stdout.flush()

    stdin_closed = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            stdin_closed.set()

    if os.environ.get("IGNORE_STDIN") != "1":
        threading.Thread(target=watch_stdin, daemon=True).start()
    by_stdin = stdin_closed.wait(timeout=lifetime)
    server.stop(grace=None)
    return 0 if by_stdin else 3


if __name__ == "__main__":
    status = main(sys.argv)
    sys.stdout.flush()
    # os._exit: the stdin watcher may still be blocked in read(), which would make a normal
    # interpreter shutdown abort.
    os._exit(status)
