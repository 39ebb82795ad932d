"""A Dubbo consumer for interop tests: PyPI dubbo-ssl-python (a client nobody on this project
wrote) calling com.example.DemoService:1.0.0 group g1 on HOST:PORT directly.

Usage: python3 consumer.py HOST PORT SCENARIO [JSON]
  calls   typical calls: sayHello, echo of several types, an attachment, a big string, boom
  errors  one call per framework failure class (the method name says which); a proxy's
          error replies must make each raise with the proxy's message
  batch JSON  every call of the JSON list [{"call", "method", "args", "timeout"}] at once, one
          thread each, on the client's one connection; prints {"event": "invoking"} first;
          each result also has "elapsedMs"
  paced "N MS"  N echo calls, one every MS milliseconds, each on its own thread (a fixed rate);
          prints {"event": "invoking"} first, then {"ok", "n", "good", "bad": [first failures]}
Prints one JSON object: {"results": [{"call": ..., "ok": bool, "value"|"error", "message"}]}.
Every call has a timeout; the whole script stops itself after 60 s.
"""
import json
import logging
import sys
import threading
import time

from dubbo_ssl.client import DubboClient

logging.basicConfig(level=logging.CRITICAL)
threading.Timer(60, lambda: (sys.stdout.flush(), __import__("os")._exit(3))).start()

SERVICE = "com.example.DemoService"
# The two failures answered with status 100 come last: dubbo-ssl-python 0.9.6 has no entry
# for status 100 in its status table, raises KeyError in its reader thread, and never reads
# that connection again, so every later call on it would time out too.
FAILURES = ["NoRoute", "Timeout", "BadRequest", "UpstreamReset", "Internal",
            "Overloaded", "NoHealthyUpstream"]


def run(client, name, method, args, context=None, timeout=5):
    try:
        value = client.call(method, args, context=context, timeout=timeout)
        return {"call": name, "ok": True, "value": value}
    except Exception as e:  # the consumer's own exception types are what we report
        return {"call": name, "ok": False, "error": type(e).__name__, "message": str(e)}


def main():
    host, port, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
    client = DubboClient(SERVICE, group="g1", version="1.0.0", host=f"{host}:{port}")
    results = []
    if scenario == "calls":
        results.append(run(client, "sayHello", "sayHello", ["world", 42],
                           context={"traceId": "abc"}))
        results.append(run(client, "echo-str", "echo", ["héllo ✓"]))
        results.append(run(client, "echo-int", "echo", [-100000]))
        results.append(run(client, "echo-long", "echo", [1 << 40]))
        results.append(run(client, "echo-float", "echo", [2.5]))
        results.append(run(client, "echo-bool", "echo", [True]))
        results.append(run(client, "echo-list", "echo", [[1, 2, 3]]))
        results.append(run(client, "echo-strs", "echo", [["a", "b"]]))
        big = run(client, "echo-big", "echo", ["x" * 20000])
        if big["ok"]:  # report the size, not 20 000 characters
            big["value"] = len(big["value"]) if big["value"] == "x" * 20000 else "mismatch"
        results.append(big)
        results.append(run(client, "attachment", "attachment", ["traceId"],
                           context={"traceId": "t-123"}))
        results.append(run(client, "boom", "boom", []))
    elif scenario == "errors":
        for failure in FAILURES:
            results.append(run(client, failure, failure, [], timeout=3))
    elif scenario == "batch":
        calls = json.loads(sys.argv[4])
        slots = [None] * len(calls)

        def one(i, c):
            start = time.monotonic()
            slots[i] = run(client, c["call"], c["method"], c.get("args", []),
                           context=c.get("context"), timeout=c.get("timeout", 5))
            slots[i]["elapsedMs"] = int((time.monotonic() - start) * 1000)

        print(json.dumps({"event": "invoking", "calls": len(calls)}))
        sys.stdout.flush()
        threads = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.extend(slots)
    elif scenario == "paced":
        # "N MS": N calls, one every MS milliseconds, each on a thread of its own (a fixed
        # rate, not waiting for replies); prints {"event":"invoking"} first.
        n, every = (int(x) for x in (sys.argv[4] if len(sys.argv) > 4 else "100 20").split())
        slots = [None] * n

        def paced_one(i):
            slots[i] = run(client, f"paced-{i}", "echo", [f"paced-{i}"])
            if slots[i]["ok"] and slots[i]["value"] != f"paced-{i}":
                slots[i]["ok"] = False

        run(client, "warm", "echo", ["warm"])
        print(json.dumps({"event": "invoking", "calls": n}))
        sys.stdout.flush()
        threads = []
        for i in range(n):
            t = threading.Thread(target=paced_one, args=(i,))
            t.start()
            threads.append(t)
            time.sleep(every / 1000)
        for t in threads:
            t.join()
        bad = [r for r in slots if not r["ok"]]
        print(json.dumps({"ok": not bad, "n": n, "good": n - len(bad), "bad": bad[:5]}))
        sys.stdout.flush()
        __import__("os")._exit(0)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(json.dumps({"results": results}))
    sys.stdout.flush()
    __import__("os")._exit(0)


if __name__ == "__main__":
    main()
