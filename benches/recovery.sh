#!/usr/bin/env bash
# How long a short backend outage costs through xproxy, under a fixed-rate load.
#
# For each protocol (bolt: the RPC relay path; http1: the HTTP path), a release xproxy with
# one one-endpoint cluster in front of one `xload serve` backend, xload at a fixed rate
# through the proxy, and one of two outages in the middle of the run:
#   restart  the backend is killed (SIGKILL) and started again on the same port GAP later
#   freeze   the backend is stopped (SIGSTOP) for FREEZE and then continued (SIGCONT)
# It prints, per run: requests, failures, the error window (first to last failure, from
# xload's JSON) and how long errors went on after the backend was back (last failure minus
# the restart or SIGCONT), and the proxy's "endpoint ejected" / "endpoint restored" log lines.
# Targets: a 200 ms restart costs at most 0.5 s of errors; a 4 s freeze costs nothing after
# the backend resumes.
#
# A measurement, not a test: numbers vary with the machine's load; nothing here passes or
# fails.
#
# Environment (defaults in brackets):
#   RECOVERY_PROTOCOLS ["bolt http1"]   RECOVERY_SCENARIOS ["restart freeze"]
#   RECOVERY_RATE [2000]      total requests/s
#   RECOVERY_DURATION [10s]   measured time per run (the outage starts OUTAGE_AT into it)
#   RECOVERY_OUTAGE_AT [3]    seconds into the measured time
#   RECOVERY_GAP [0.2]        seconds between kill and restart
#   RECOVERY_FREEZE [4]       seconds between SIGSTOP and SIGCONT
#   RECOVERY_ROUTE_TIMEOUT [1s]  the proxy route's timeout (requests to a frozen backend)
#   RECOVERY_BASE_PORT [23300]   ports BASE+1..BASE+2 on 127.0.0.1
#   RECOVERY_LOGS [unset]     a directory to keep each run's proxy log and xload JSON in
#   XPROXY [target/release/xproxy]  the proxy binary to measure (e.g. one built from main)
#   XLOAD_SKIP_BUILD [unset]  set to 1 to use the binaries already built
#   CARGO_TARGET_DIR [target]
set -euo pipefail

PROTOCOLS=${RECOVERY_PROTOCOLS:-bolt http1}
SCENARIOS=${RECOVERY_SCENARIOS:-restart freeze}
RATE=${RECOVERY_RATE:-2000}
DURATION=${RECOVERY_DURATION:-10s}
OUTAGE_AT=${RECOVERY_OUTAGE_AT:-3}
GAP=${RECOVERY_GAP:-0.2}
FREEZE=${RECOVERY_FREEZE:-4}
ROUTE_TIMEOUT=${RECOVERY_ROUTE_TIMEOUT:-1s}
BASE=${RECOVERY_BASE_PORT:-23300}
WARMUP=1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
XLOAD=$TARGET_DIR/release/xload
XPROXY=${XPROXY:-$TARGET_DIR/release/xproxy}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xload-recovery.XXXXXX")
BACKEND_PORT=$((BASE + 1))
PROXY_PORT=$((BASE + 2))
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "recovery: $*" >&2; }
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


now() { date +%s.%N; }


if [[ -z ${XLOAD_SKIP_BUILD:-} ]]; then
    log "building xproxy and xload (release)"
    (cd "$ROOT" && cargo build --release -q -p xproxy --bin xproxy -p xproxy-benches --bin xload)
fi

backend_start() { # protocol
    local serve=bolt
    [[ $1 == http1 ]] && serve=http
    "$XLOAD" serve --protocol "$serve" --listen "127.0.0.1:$BACKEND_PORT" -t 1 \
        > "$WORK/backend.log" 2>&1 &
    BACKEND_PID=$!
    PIDS+=("$BACKEND_PID")
    wait_port "$BACKEND_PORT"
}

proxy_config() { # protocol
    printf 'listeners:\n  - name: load\n    address: 127.0.0.1:%s\n' "$PROXY_PORT"
    printf 'admin:\n  address: null\n'
    if [[ $1 == bolt ]]; then
        printf 'routes:\n  - protocol: bolt\n    routes:\n'
        printf '      - action: {cluster: backend}\n        timeout: %s\n' "$ROUTE_TIMEOUT"
    else
        printf 'http:\n  virtual_hosts:\n    - name: all\n      domains: ["*"]\n      routes:\n'
        printf '        - match: {path: {prefix: "/"}}\n          action: {cluster: backend}\n'
        printf '          timeout: %s\n' "$ROUTE_TIMEOUT"
    fi
    printf 'clusters:\n  - name: backend\n    http_protocol: http1\n'
    printf '    endpoints: [{address: "127.0.0.1:%s"}]\n' "$BACKEND_PORT"
}

run_one() { # protocol scenario
    local protocol=$1 scenario=$2 load_args proxy_pid xload_pid t0 t_out t_back json
    backend_start "$protocol"
    proxy_config "$protocol" > "$WORK/xproxy.yaml"
    "$XPROXY" run -c "$WORK/xproxy.yaml" --log-level info > "$WORK/xproxy.log" 2>&1 &
    proxy_pid=$!
    PIDS+=("$proxy_pid")
    wait_port "$PROXY_PORT"

    if [[ $protocol == bolt ]]; then
        load_args=(--protocol bolt -c 4 -m 256)
    else
        # One request at a time per connection: enough connections for a frozen backend's
        # requests to wait out the route timeout while the rest go on.
        load_args=(--protocol http1 -c 256 -m 1)
    fi
    t0=$(now)
    "$XLOAD" "${load_args[@]}" --target "127.0.0.1:$PROXY_PORT" --rate "$RATE" \
        --warmup "${WARMUP}s" --duration "$DURATION" --timeout 5s -t 1 --json \
        > "$WORK/xload.json" 2> "$WORK/xload.err" &
    xload_pid=$!
    PIDS+=("$xload_pid")
    sleep "$((WARMUP + OUTAGE_AT))"
    t_out=$(now)
    if [[ $scenario == restart ]]; then
        kill -KILL "$BACKEND_PID"
        wait "$BACKEND_PID" 2>/dev/null || true
        sleep "$GAP"
        t_back=$(now)
        backend_start "$protocol"
    else
        kill -STOP "$BACKEND_PID"
        sleep "$FREEZE"
        kill -CONT "$BACKEND_PID"
        t_back=$(now)
    fi
    wait "$xload_pid" || { log "xload failed: $(tail -n 3 "$WORK/xload.err")"; }
    json=$(tail -n 1 "$WORK/xload.json")
    kill "$proxy_pid" "$BACKEND_PID" 2>/dev/null || true
    wait "$proxy_pid" "$BACKEND_PID" 2>/dev/null || true

    local requests failed window last ejected restored after
    requests=$(field "$json" requests)
    failed=$(field "$json" failed)
    window=$(field "$json" error_window_s)
    last=$(field "$json" last_error_s)
    ejected=$(grep -c "endpoint ejected" "$WORK/xproxy.log" || true)
    restored=$(grep -c "endpoint restored" "$WORK/xproxy.log" || true)
    if [[ -z $last || $last == null ]]; then
        window=0
        after="none"
    else
        # The last failure, on the wall clock, minus the moment the backend was back.
        after=$(awk -v t0="$t0" -v w="$WARMUP" -v last="$last" -v back="$t_back" \
            'BEGIN { printf "%.2fs", t0 + w + last - back }')
        window=$(awk -v w="$window" 'BEGIN { printf "%.2fs", w }')
    fi
    local outage
    outage=$(awk -v a="$t_out" -v b="$t_back" 'BEGIN { printf "%.2fs", b - a }')
    printf '%-6s %-8s %8s %8s %9s %12s %14s %8s %8s\n' "$protocol" "$scenario" "${requests:-?}" \
        "${failed:-?}" "$outage" "$window" "$after" "$ejected" "$restored"
    if [[ -n ${RECOVERY_LOGS:-} ]]; then
        mkdir -p "$RECOVERY_LOGS"
        cp "$WORK/xproxy.log" "$RECOVERY_LOGS/xproxy-$protocol-$scenario.log"
        cp "$WORK/xload.json" "$RECOVERY_LOGS/xload-$protocol-$scenario.json"
    fi
}

echo "xproxy: $XPROXY"
echo "load: ${RATE} req/s fixed rate, ${DURATION} measured, outage ${OUTAGE_AT}s in;" \
    "restart gap ${GAP}s, freeze ${FREEZE}s, route timeout ${ROUTE_TIMEOUT}"
printf '%-6s %-8s %8s %8s %9s %12s %14s %8s %8s\n' protocol outage requests failed \
    "down" "err-window" "err-after-back" ejected restored
for protocol in $PROTOCOLS; do
    for scenario in $SCENARIOS; do
        run_one "$protocol" "$scenario"
    done
done
echo "err-after-back: the last failure's time minus the restart (or SIGCONT); negative or"
echo "'none' means no error once the backend was back."
