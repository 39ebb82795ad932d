#!/usr/bin/env bash
# SIGTERM under load: for each workload, xload sends at a fixed rate through a release xproxy
# to an xload backend, and xproxy gets SIGTERM partway through. Prints, per workload, what
# xload counted: requests answered OK and errors by class. A graceful drain shows no error but
# `connect` (a caller told to go away, reconnecting to the draining gateway, is refused before
# it sends anything); `closed`, `reset` and `timeout` are requests that were sent and never
# answered.
#
# One command, bounded in time (about 15 s per workload), stops itself. Needs the repo and
# cargo; binds 127.0.0.1 only.
#
# Environment (defaults in brackets):
#   DRAIN_PROTOCOLS ["bolt dubbo tars http1 http2 grpc"]
#   DRAIN_RATE [2000]       total requests/s
#   DRAIN_DURATION [6s]     measured load time (after a 1 s warm-up)
#   DRAIN_SIGNAL_AFTER [3]  seconds after the load starts when SIGTERM is sent
#   DRAIN_TIMEOUT [30s]     xproxy's limits.drain_timeout
#   DRAIN_CONNECTIONS [4]   load connections (http1: 16)
#   DRAIN_BASE_PORT [23400] ports BASE+2.. on 127.0.0.1, two per workload
#   XLOAD_SKIP_BUILD [unset] set to 1 to use the binaries already built
#   XPROXY [target/release/xproxy]  the xproxy binary to measure (another build, to compare)
#   CARGO_TARGET_DIR [target]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
XPROXY=${XPROXY:-$TARGET_DIR/release/xproxy}
XLOAD=$TARGET_DIR/release/xload
PROTOCOLS=${DRAIN_PROTOCOLS:-bolt dubbo tars http1 http2 grpc}
RATE=${DRAIN_RATE:-2000}
DURATION=${DRAIN_DURATION:-6s}
SIGNAL_AFTER=${DRAIN_SIGNAL_AFTER:-3}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-30s}
CONNECTIONS=${DRAIN_CONNECTIONS:-4}
BASE=${DRAIN_BASE_PORT:-23400}
WORK=$(mktemp -d -t xproxy-drain-XXXXXX)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf 'drain.sh: %s\n' "$*" >&2; }
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"



if [[ -z ${XLOAD_SKIP_BUILD:-} ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p xproxy --bin xproxy -p xproxy-benches --bin xload)
fi

printf '%-6s %8s %8s  %s\n' workload sent ok "errors by class (xload; counted after a 1 s warm-up)"
n=0
for p in $PROTOCOLS; do
    n=$((n + 1))
    backend_port=$((BASE + 2 * n))
    proxy_port=$((BASE + 2 * n + 1))
    case $p in
        bolt | dubbo | tars) serve_as=$p ;;
        http1 | http2 | grpc) serve_as=http ;;
        *) log "unknown workload $p"; exit 2 ;;
    esac
    "$XLOAD" serve --protocol "$serve_as" --listen "127.0.0.1:$backend_port" \
        > "$WORK/backend-$p.log" 2>&1 &
    backend=$!
    PIDS+=("$backend")
    wait_port "$backend_port"
    config=$WORK/$p.yaml
    {
        printf 'listeners: [{name: main, address: "127.0.0.1:%s"}]\n' "$proxy_port"
        printf 'admin: {address: null}\n'
        printf 'limits: {drain_timeout: %s}\n' "$DRAIN_TIMEOUT"
        case $p in
            bolt | dubbo | tars)
                printf 'routes:\n  - protocol: %s\n    routes:\n      - action: {cluster: b}\n' "$p"
                printf 'clusters:\n  - name: b\n    endpoints: [{address: "127.0.0.1:%s"}]\n' \
                    "$backend_port"
                ;;
            *)
                version=http2
                [[ $p == http1 ]] && version=http1
                printf 'http:\n  virtual_hosts:\n    - name: all\n      domains: ["*"]\n'
                printf '      routes: [{match: {path: {prefix: "/"}}, action: {cluster: b}}]\n'
                printf 'clusters:\n  - name: b\n    http_protocol: %s\n' "$version"
                printf '    endpoints: [{address: "127.0.0.1:%s"}]\n' "$backend_port"
                ;;
        esac
    } > "$config"
    "$XPROXY" run -c "$config" --log-level warn > "$WORK/xproxy-$p.log" 2>&1 &
    proxy=$!
    PIDS+=("$proxy")
    wait_port "$proxy_port"
    connections=$CONNECTIONS
    concurrency=16
    if [[ $p == http1 ]]; then connections=16; concurrency=1; fi
    timeout 60 "$XLOAD" --protocol "$p" --target "127.0.0.1:$proxy_port" \
        --connections "$connections" --concurrency "$concurrency" --rate "$RATE" \
        --warmup 1s --duration "$DURATION" --json > "$WORK/load-$p.json" 2> "$WORK/load-$p.err" &
    load=$!
    sleep $((SIGNAL_AFTER + 1))
    kill -TERM "$proxy"
    wait "$load" || true
    wait "$proxy" || log "$p: xproxy exited with status $?"
    kill "$backend" 2> /dev/null || true
    json=$(tail -n 1 "$WORK/load-$p.json")
    if [[ -z $json ]]; then
        printf '%-6s failed: %s\n' "$p" "$(tail -n 1 "$WORK/load-$p.err")"
        continue
    fi
    sent=$(field "$json" requests)
    ok=$(field "$json" ok)
    errors=$( (grep -oE '"errors_[a-z0-9_]+":[1-9][0-9]*' <<< "$json" || true) \
        | sed -E 's/"errors_//; s/"//' | paste -sd ' ' -)
    printf '%-6s %8s %8s  %s\n' "$p" "$sent" "$ok" "${errors:-none}"
done
