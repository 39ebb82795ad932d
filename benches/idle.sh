#!/usr/bin/env bash
# What idle downstream connections cost xproxy in memory. Starts the release xproxy (one
# worker, one auto-detecting port routing Bolt and HTTP) and the xload backends on
# 127.0.0.1, then for each mode has benches/idle.py hold IDLE_CONNECTIONS connections open and
# reads xproxy's RSS before and with them. A fresh xproxy per mode, so modes do not share
# freed memory. Prints one table.
#
#   raw    connected, nothing sent yet (waiting to be sniffed)
#   bolt   one Bolt v1 request answered, then idle
#   http1  one HTTP/1.1 request answered, then idle (keep-alive)
#   http2  HTTP/2 preface and SETTINGS exchanged, then idle
#
# Environment (defaults in brackets):
#   IDLE_CONNECTIONS [10000]   IDLE_MODES ["raw bolt http1 http2"]
#   IDLE_BASE_PORT [23200]     ports BASE+1..BASE+3 on 127.0.0.1
#   XLOAD_SKIP_BUILD [unset]   set to 1 to use the binaries already built
#   CARGO_TARGET_DIR [target]
# Needs cargo and python3; the open-file hard limit must exceed IDLE_CONNECTIONS + 100.
set -euo pipefail

CONNECTIONS=${IDLE_CONNECTIONS:-10000}
MODES=${IDLE_MODES:-raw bolt http1 http2}
BASE=${IDLE_BASE_PORT:-23200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
XLOAD=$TARGET_DIR/release/xload
XPROXY=$TARGET_DIR/release/xproxy
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xproxy-idle.XXXXXX")
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "idle: $*" >&2; }
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < CONNECTIONS + 100 )); then
    log "the open-file limit $(ulimit -n) is too low for $CONNECTIONS connections"
    exit 2
fi


if [[ -z ${XLOAD_SKIP_BUILD:-} ]]; then
    log "building release binaries"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p xproxy-benches \
        --bin xload -p xproxy --bin xproxy)
fi

PROXY=$((BASE + 1)) BOLT_BACKEND=$((BASE + 2)) HTTP_BACKEND=$((BASE + 3))
"$XLOAD" serve --protocol bolt --listen "127.0.0.1:$BOLT_BACKEND" > "$WORK/bolt.log" 2>&1 &
PIDS+=($!)
"$XLOAD" serve --protocol http --listen "127.0.0.1:$HTTP_BACKEND" > "$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_port "$BOLT_BACKEND"
wait_port "$HTTP_BACKEND"
cat > "$WORK/xproxy.yaml" << CONF
# Every connection may wait to be recognised at once (the raw mode holds them all there).
listeners: [{name: main, address: "127.0.0.1:$PROXY", sniff: {max_pending: $CONNECTIONS}}]
limits: {max_connections: $CONNECTIONS}
admin: {address: null}
routes:
  - protocol: bolt
    routes: [{action: {cluster: bolt}}]
http:
  virtual_hosts:
    - name: idle
      domains: ["*"]
      routes: [{match: {path: {prefix: "/"}}, action: {cluster: http}}]
clusters:
  - name: bolt
    endpoints: [{address: "127.0.0.1:$BOLT_BACKEND"}]
  - name: http
    http_protocol: http1
    endpoints: [{address: "127.0.0.1:$HTTP_BACKEND"}]
CONF

echo "| mode | connections | xproxy RSS before MiB | with them MiB | added MiB | bytes per connection |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in $MODES; do
    "$XPROXY" run -c "$WORK/xproxy.yaml" --workers 1 --log-level warn > "$WORK/xproxy.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$PROXY"
    if ! python3 "$ROOT/benches/idle.py" --target "127.0.0.1:$PROXY" --pid "$pid" \
        --connections "$CONNECTIONS" --mode "$mode"; then
        log "$mode failed"
        tail -n 20 "$WORK/xproxy.log" >&2
        exit 1
    fi
    kill "$pid"
    wait "$pid" 2> /dev/null || true
done
