#!/usr/bin/env bash
# Side-by-side proxy load on 127.0.0.1. For each workload, the same load direct to the backend
# and through the proxies:
#   bolt, dubbo, tars (RPC)  direct, HAProxy in TCP mode (the L4 floor), xproxy
#   http1 (HTTP/1.1)         direct, nginx (reverse proxy, keep-alive upstream), HAProxy in
#                            HTTP mode, xproxy
#   http2, grpc (HTTP/2)     direct, HAProxy in HTTP mode with `proto h2` on both sides, xproxy
# and prints one table: requests/s, p50/p99 latency, the proxy's CPU microseconds per request
# (from its own /proc/<pid>/stat utime+stime) and its RSS. A path that cannot run (a proxy that
# refuses its configuration, does not start or dies, a load run that fails) gives a `failed`
# row and a note under the table; the other rows still run.
#
# Needs the repo, cargo and apt (HAProxy, nginx and h2load are installed with apt-get when
# missing: packages haproxy, nginx-light, nghttp2-client).
#
# Placement (2 cores): the proxy (xproxy, HAProxy or nginx) runs alone on core $PROXY_CORE (1);
# the load generator and the backends share core $CLIENT_CORE (0). Every proxy runs one thread
# (nginx: one worker, no master process, so the PID measured is the worker).
#
# Load shape per workload (closed loop unless XLOAD_RATE is set):
#   bolt, dubbo, tars   XLOAD_CONNECTIONS [4] x XLOAD_CONCURRENCY [16] in flight
#   http1               XLOAD_HTTP1_CONNECTIONS [50] keep-alive connections, 1 request each
#   http2, grpc         XLOAD_HTTP2_CONNECTIONS [4] x XLOAD_HTTP2_STREAMS [64] streams
#
# Environment (defaults in brackets):
#   XLOAD_DURATION [10s]     measured time per run     XLOAD_WARMUP [1s]
#   XLOAD_PAYLOAD [1KiB]     request and reply payload (RPC argument, HTTP body, gRPC message)
#   XLOAD_RATE [unset]       total requests/s (fixed rate); unset: closed loop, as fast as
#                            replies come back (latency is then queueing at saturation)
#   XLOAD_PROTOCOLS ["bolt dubbo tars http1 http2 grpc"]
#   XLOAD_PATHS ["direct haproxy nginx xproxy"]   (nginx only applies to http1)
#   XLOAD_GENERATOR [xload]  h2load: generate the http1 and http2 load with h2load instead, as
#                            a cross-check of xload (grpc and RPC rows are then skipped: h2load
#                            checks neither grpc-status nor RPC replies); p50/p99 come from its
#                            per-request log
#   XLOAD_BASE_PORT [23100]  ports BASE+1.. BASE+40 are used on 127.0.0.1
#   CLIENT_CORE [0]  PROXY_CORE [1]
#   XLOAD_SKIP_BUILD [unset] set to 1 to use the binaries already built
#   CARGO_TARGET_DIR [target]
set -euo pipefail

DURATION=${XLOAD_DURATION:-10s}
WARMUP=${XLOAD_WARMUP:-1s}
RPC_CONNECTIONS=${XLOAD_CONNECTIONS:-4}
RPC_CONCURRENCY=${XLOAD_CONCURRENCY:-16}
HTTP1_CONNECTIONS=${XLOAD_HTTP1_CONNECTIONS:-50}
HTTP2_CONNECTIONS=${XLOAD_HTTP2_CONNECTIONS:-4}
HTTP2_STREAMS=${XLOAD_HTTP2_STREAMS:-64}
PAYLOAD=${XLOAD_PAYLOAD:-1KiB}
RATE=${XLOAD_RATE:-}
GENERATOR=${XLOAD_GENERATOR:-xload}
RATE_ARGS=()
MODE="closed loop"
if [[ -n $RATE ]]; then
    RATE_ARGS=(--rate "$RATE")
    MODE="fixed rate $RATE req/s"
fi
PROTOCOLS=${XLOAD_PROTOCOLS:-bolt dubbo tars http1 http2 grpc}
PATHS=${XLOAD_PATHS:-direct haproxy nginx xproxy}
BASE=${XLOAD_BASE_PORT:-23100}
CLIENT_CORE=${CLIENT_CORE:-0}
PROXY_CORE=${PROXY_CORE:-1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
XLOAD=$TARGET_DIR/release/xload
XPROXY=$TARGET_DIR/release/xproxy
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xload-compare.XXXXXX")
PIDS=()
NOTES=()
declare -A PROXY_PID # haproxy, nginx, xproxy-rpc, xproxy-http1, ... -> pid
declare -A BROKEN    # the same keys -> why that proxy cannot be measured

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Give each a moment to drain, then insist.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "compare: $*" >&2; }
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds() { # "10s" / "500ms" / "2m" -> whole seconds, rounded up
    case $1 in
        *ms) echo $(( (${1%ms} + 999) / 1000 )) ;;
        *us) echo 1 ;;
        *m) echo $(( ${1%m} * 60 )) ;;
        *s) echo "${1%s}" | awk '{ printf "%d\n", ($1 == int($1)) ? $1 : int($1) + 1 }' ;;
        *) echo "$1" ;;
    esac
}

bytes() { # "1KiB" / "4k" / "64B" / "1MiB" / "1000" -> bytes (xload's size syntax)
    local n=${1%%[!0-9]*} unit=${1##*[0-9]}
    case $unit in
        ''|B|b) echo "$n" ;;
        k|K|KiB|KB|kB) echo $(( n * 1024 )) ;;
        M|MiB|MB) echo $(( n * 1048576 )) ;;
        *) log "cannot read the size $1"; exit 2 ;;
    esac
}

WARMUP_S=$(awk -v w="$WARMUP" 'BEGIN {
    v = w + 0; if (w ~ /ms$/) v /= 1000; else if (w ~ /us$/) v /= 1e6; else if (w ~ /m$/) v *= 60
    print v
}')
# Every run is bounded: warm-up + duration + request timeout + slack.
RUN_LIMIT=$(( $(seconds "$WARMUP") + $(seconds "$DURATION") + 5 + 10 ))

is_rpc() { case $1 in bolt|dubbo|tars) return 0 ;; *) return 1 ;; esac; }
is_http() { case $1 in http1|http2|grpc) return 0 ;; *) return 1 ;; esac; }

port_of() { # role workload -> port
    local i
    case $2 in
        bolt) i=1 ;; dubbo) i=2 ;; tars) i=3 ;; http1) i=4 ;; http2) i=5 ;; grpc) i=6 ;;
        *) log "unknown workload $2"; exit 2 ;;
    esac
    case $1 in
        backend) echo $((BASE + i)) ;;
        haproxy) echo $((BASE + 10 + i)) ;;
        # One xproxy listener for every RPC protocol (told apart by detection); one xproxy
        # per HTTP workload (its configuration has one cluster, of one HTTP version).
        xproxy) if is_rpc "$2"; then echo $((BASE + 20)); else echo $((BASE + 20 + i)); fi ;;
        nginx) echo $((BASE + 30 + i)) ;;
    esac
}

proxy_key() { # path workload -> the key of the proxy process that path goes through
    case $1 in
        direct) echo "" ;;
        xproxy) if is_rpc "$2"; then echo xproxy-rpc; else echo "xproxy-$2"; fi ;;
        *) echo "$1" ;;
    esac
}

shape() { # workload -> "connections concurrency"
    case $1 in
        http1) echo "$HTTP1_CONNECTIONS 1" ;;
        http2|grpc) echo "$HTTP2_CONNECTIONS $HTTP2_STREAMS" ;;
        *) echo "$RPC_CONNECTIONS $RPC_CONCURRENCY" ;;
    esac
}


start() { # core log command...: start pinned in the background, record its pid
    local core=$1 logfile=$2
    shift 2
    taskset -c "$core" "$@" > "$logfile" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

broken() { # key reason: this proxy cannot be measured; say why once, under the table
    BROKEN[$1]=$2
    NOTES+=("$1: $2")
    log "$1: $2"
}

last_line() { # file -> its last non-empty line, on one line
    grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c 1-200
}

start_proxy() { # key port log command...: start pinned on the proxy core, wait for the port
    local key=$1 port=$2 logfile=$3
    shift 3
    start "$PROXY_CORE" "$logfile" "$@"
    PROXY_PID[$key]=$LAST_PID
    if ! wait_port "$port" "$LAST_PID"; then
        broken "$key" "did not listen on 127.0.0.1:$port ($(last_line "$logfile"))"
    fi
}

cpu_ticks() { # pid -> utime+stime in clock ticks (fields 14 and 15; comm may hold spaces)
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }


has() { [[ " $1 " == *" $2 "* ]]; } # list word

any_rpc=false
for p in $PROTOCOLS; do
    if is_rpc "$p"; then
        any_rpc=true
    elif ! is_http "$p"; then
        log "unknown workload $p (bolt dubbo tars http1 http2 grpc)"
        exit 2
    fi
done
for path in $PATHS; do
    case $path in direct|haproxy|nginx|xproxy) ;; *) log "unknown path $path"; exit 2 ;; esac
done
case $GENERATOR in xload|h2load) ;; *) log "XLOAD_GENERATOR is xload or h2load"; exit 2 ;; esac
use_nginx=false
if has "$PATHS" nginx && has "$PROTOCOLS" http1; then use_nginx=true; fi

# --- build and install ------------------------------------------------------------------------
if [[ -z ${XLOAD_SKIP_BUILD:-} ]]; then
    log "building release binaries"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p xproxy-benches \
        --bin xload)
    if has "$PATHS" xproxy; then
        # xproxy's rows fail (rather than the whole run) if it does not build.
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p xproxy \
            --bin xproxy) || XPROXY_UNBUILT=1
    fi
fi
[[ -x $XLOAD ]] || { log "missing $XLOAD"; exit 1; }
packages=()
if has "$PATHS" haproxy && ! command -v haproxy > /dev/null; then packages+=(haproxy); fi
if $use_nginx && ! command -v nginx > /dev/null; then packages+=(nginx-light); fi
if [[ $GENERATOR == h2load ]] && ! command -v h2load > /dev/null; then
    packages+=(nghttp2-client)
fi
if (( ${#packages[@]} > 0 )); then
    log "installing ${packages[*]}"
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${packages[@]}" > /dev/null
fi
command -v taskset > /dev/null || { log "taskset (util-linux) is needed"; exit 1; }
PAYLOAD_BYTES=$(bytes "$PAYLOAD")
if [[ $GENERATOR == h2load ]]; then
    head -c "$PAYLOAD_BYTES" /dev/zero > "$WORK/payload.bin"
fi

# Bound the rest of the script: every run is bounded by `timeout`, every wait for a port by
# 10 s, and no run starts after the budget (the runs' limits plus a minute) is spent.
n_runs=0
for p in $PROTOCOLS; do
    for path in $PATHS; do
        [[ $path == nginx && $p != http1 ]] || n_runs=$((n_runs + 1))
    done
done
DEADLINE=$(( SECONDS + 60 + n_runs * RUN_LIMIT ))

# --- backends ---------------------------------------------------------------------------------
for p in $PROTOCOLS; do
    serve=$p
    if is_http "$p"; then serve=http; fi
    start "$CLIENT_CORE" "$WORK/backend-$p.log" "$XLOAD" serve --protocol "$serve" \
        --listen "127.0.0.1:$(port_of backend "$p")" --payload "$PAYLOAD" --threads 1
done
for p in $PROTOCOLS; do wait_port "$(port_of backend "$p")"; done

# --- proxies ----------------------------------------------------------------------------------
if has "$PATHS" haproxy; then
    {
        printf 'global\n    maxconn 4000\n    nbthread 1\n\n'
        printf 'defaults\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
        printf '    timeout http-keep-alive 60s\n\n'
        for p in $PROTOCOLS; do
            # RPC: TCP mode. http1: HTTP mode. http2, grpc: HTTP mode, h2c on both sides.
            mode=tcp h2=''
            if is_http "$p"; then mode=http; fi
            if [[ $p == http2 || $p == grpc ]]; then h2=' proto h2'; fi
            printf 'frontend fe_%s\n    mode %s\n    bind 127.0.0.1:%s%s\n' \
                "$p" "$mode" "$(port_of haproxy "$p")" "$h2"
            printf '    default_backend be_%s\n\n' "$p"
            printf 'backend be_%s\n    mode %s\n    server s1 127.0.0.1:%s%s\n\n' \
                "$p" "$mode" "$(port_of backend "$p")" "$h2"
        done
    } > "$WORK/haproxy.cfg"
    if ! haproxy -c -q -f "$WORK/haproxy.cfg" > "$WORK/haproxy-check.log" 2>&1; then
        broken haproxy "refused its configuration ($(last_line "$WORK/haproxy-check.log"))"
    else
        # -db: stay in the foreground, one process, so $! is the process that does the work.
        start_proxy haproxy "$(port_of haproxy "$(set -- $PROTOCOLS; echo "$1")")" \
            "$WORK/haproxy.log" haproxy -db -f "$WORK/haproxy.cfg"
    fi
fi
if $use_nginx; then
    mkdir -p "$WORK/nginx"
    N=$WORK/nginx
    cat > "$N/nginx.conf" <<CONF
# One worker and no master: the process started is the one that does the work.
daemon off;
master_process off;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $N/client_body;
    proxy_temp_path $N/proxy;
    fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi;
    scgi_temp_path $N/scgi;
    # Keep client connections open for the whole run (the default closes them every 1000
    # requests; xload would reopen them, but that is not what is measured here).
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    upstream be_http1 {
        server 127.0.0.1:$(port_of backend http1);
        keepalive 128;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$(port_of nginx http1);
        location / {
            proxy_pass http://be_http1;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    # -e: the error log from the start, not the packaged /var/log/nginx path.
    if ! nginx -t -q -p "$N" -e "$N/error.log" -c "$N/nginx.conf" > "$N/check.log" 2>&1; then
        broken nginx "refused its configuration ($(last_line "$N/check.log"))"
    else
        start_proxy nginx "$(port_of nginx http1)" "$WORK/nginx.log" \
            nginx -p "$N" -e "$N/error.log" -c "$N/nginx.conf"
    fi
fi
if has "$PATHS" xproxy; then
    xproxy_keys=()
    if $any_rpc; then xproxy_keys+=(xproxy-rpc); fi
    for p in $PROTOCOLS; do if is_http "$p"; then xproxy_keys+=("xproxy-$p"); fi; done
    for key in "${xproxy_keys[@]}"; do
        config=$WORK/$key.yaml
        if [[ $key == xproxy-rpc ]]; then
            port=$(port_of xproxy bolt)
            {
                printf 'listeners:\n  - name: load\n    address: 127.0.0.1:%s\n' "$port"
                printf 'admin:\n  address: null\n'
                printf 'routes:\n'
                for p in $PROTOCOLS; do
                    is_rpc "$p" || continue
                    printf '  - protocol: %s\n    routes:\n' "$p"
                    printf '      - action:\n          cluster: %s\n' "$p"
                done
                printf 'clusters:\n'
                for p in $PROTOCOLS; do
                    is_rpc "$p" || continue
                    printf '  - name: %s\n    endpoints:\n      - address: 127.0.0.1:%s\n' \
                        "$p" "$(port_of backend "$p")"
                done
            } > "$config"
        else
            p=${key#xproxy-}
            port=$(port_of xproxy "$p")
            version=http2
            if [[ $p == http1 ]]; then version=http1; fi
            cat > "$config" <<CONF
listeners: [{name: main, address: "127.0.0.1:$port"}]
http:
  virtual_hosts:
    - name: bench
      domains: ["*"]
      routes:
        - match: {path: {prefix: "/"}}
          action: {cluster: backend}
clusters:
  - name: backend
    http_protocol: $version
    endpoints: [{address: "127.0.0.1:$(port_of backend "$p")"}]
admin: {address: null}
CONF
        fi
        if [[ -n ${XPROXY_UNBUILT:-} ]]; then
            broken "$key" "xproxy does not build (see cargo's output above)"
        elif [[ ! -x $XPROXY ]]; then
            broken "$key" "no xproxy binary at $XPROXY"
        elif ! "$XPROXY" validate -c "$config" > "$WORK/$key-validate.log" 2>&1; then
            why=$(last_line "$WORK/$key-validate.log")
            broken "$key" "xproxy refused the configuration ($why)"
        else
            start_proxy "$key" "$port" "$WORK/$key.log" \
                "$XPROXY" run -c "$config" --log-level warn
        fi
    done
fi

# --- runs -------------------------------------------------------------------------------------
run_xload() { # workload port connections concurrency -> JSON on stdout
    timeout "$RUN_LIMIT" taskset -c "$CLIENT_CORE" "$XLOAD" --protocol "$1" \
        --target "127.0.0.1:$2" --connections "$3" --concurrency "$4" \
        --payload "$PAYLOAD" --warmup "$WARMUP" --duration "$DURATION" --threads 1 \
        "${RATE_ARGS[@]}" --json 2> "$WORK/run.err"
}

run_h2load() { # workload port connections concurrency -> the fields xload's JSON would give
    local h1=() out logf=$WORK/h2load.tsv
    if [[ $1 == http1 ]]; then h1=(--h1); fi
    rm -f "$logf"
    out=$(timeout "$RUN_LIMIT" taskset -c "$CLIENT_CORE" h2load "${h1[@]}" -t 1 -c "$3" -m "$4" \
        --warm-up-time "$WARMUP" -D "$DURATION" -d "$WORK/payload.bin" --log-file "$logf" \
        "http://127.0.0.1:$2/echo" 2> "$WORK/run.err") || return 1
    # Requests, failures and req/s from its summary (main duration only; the warm-up's
    # requests are estimated at the same rate, for the proxy's CPU per request); p50/p99 from
    # its per-request log (start, status, microseconds), which covers the main duration.
    local p50 p99
    read -r p50 p99 <<< "$(cut -f 3 "$logf" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR) print v[int((NR - 1) * 0.50) + 1], v[int((NR - 1) * 0.99) + 1]; else print 0, 0
    }')"
    awk -v p50="$p50" -v p99="$p99" -v warm="$WARMUP_S" '
        /^finished in/ { rps = $4 }
        /^requests:/ { total = $2; ok = $8 }
        END {
            printf "{\"requests\":%d,\"warmup_requests\":%d,", total, rps * warm
            printf "\"failed\":%d,", total - ok
            printf "\"rps\":%s,\"p50_us\":%s,\"p99_us\":%s}\n", rps, p50, p99
        }' <<< "$out"
}

ROWS=()
log "$MODE, $PAYLOAD payloads, $WARMUP warm-up + $DURATION per run, load with $GENERATOR"
for p in $PROTOCOLS; do
    for path in $PATHS; do
        if [[ $path == nginx && $p != http1 ]]; then continue; fi
        if [[ $GENERATOR == h2load ]] && [[ $p != http1 && $p != http2 ]]; then
            ROWS+=("$p|$path|skipped|||||")
            continue
        fi
        role=$path
        if [[ $path == direct ]]; then role=backend; fi
        port=$(port_of "$role" "$p")
        key=$(proxy_key "$path" "$p")
        if (( SECONDS + RUN_LIMIT > DEADLINE )); then
            log "$p via $path: skipped, out of time"
            ROWS+=("$p|$path|skipped|||||")
            continue
        fi
        pid=
        if [[ -n $key ]]; then
            if [[ -n ${BROKEN[$key]:-} ]]; then
                ROWS+=("$p|$path|failed|||||")
                continue
            fi
            pid=${PROXY_PID[$key]:-}
            if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
                broken "$key" "the proxy process is gone ($(last_line "$WORK/$key.log"))"
                ROWS+=("$p|$path|failed|||||")
                continue
            fi
            ticks0=$(cpu_ticks "$pid")
        fi
        read -r conns inflight <<< "$(shape "$p")"
        log "$p via $path (127.0.0.1:$port): $conns connections x $inflight in flight"
        if ! json=$("run_$GENERATOR" "$p" "$port" "$conns" "$inflight"); then
            why="$GENERATOR failed or timed out ($(last_line "$WORK/run.err"))"
            NOTES+=("$p via $path: $why")
            log "$p via $path: $why"
            ROWS+=("$p|$path|failed|||||")
            continue
        fi
        rps=$(field "$json" rps)
        p50=$(field "$json" p50_us)
        p99=$(field "$json" p99_us)
        failed=$(field "$json" failed)
        cpu=-
        rss=-
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            ticks1=$(cpu_ticks "$pid")
            all=$(( $(field "$json" requests) + $(field "$json" warmup_requests) ))
            hz=$(getconf CLK_TCK)
            cpu=$(awk -v t=$((ticks1 - ticks0)) -v hz="$hz" -v n="$all" \
                'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')
            rss=$(awk -v k="$(rss_kib "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')
        fi
        ROWS+=("$p|$path|$rps|$p50|$p99|$cpu|$rss|$failed")
    done
done

# --- table ------------------------------------------------------------------------------------
echo
echo "| workload | path | requests/s | p50 µs | p99 µs | proxy CPU µs/req | proxy RSS MiB | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
    IFS='|' read -r p path rps p50 p99 cpu rss failed <<< "$row"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$path" \
        "$(awk -v v="$rps" 'BEGIN { if (v !~ /^[0-9.]+$/) print v; else printf "%.0f", v }')" \
        "$(awk -v v="$p50" 'BEGIN { if (v == "") print "-"; else printf "%.0f", v }')" \
        "$(awk -v v="$p99" 'BEGIN { if (v == "") print "-"; else printf "%.0f", v }')" \
        "${cpu:--}" "${rss:--}" "${failed:--}"
done
echo
if (( ${#NOTES[@]} > 0 )); then
    echo "Failed or missing rows:"
    for note in "${NOTES[@]}"; do echo "- $note"; done
    echo
fi
shapes=()
if $any_rpc; then shapes+=("RPC $RPC_CONNECTIONS connections x $RPC_CONCURRENCY in flight"); fi
if has "$PROTOCOLS" http1; then shapes+=("http1 $HTTP1_CONNECTIONS keep-alive connections x 1"); fi
if has "$PROTOCOLS" http2 || has "$PROTOCOLS" grpc; then
    shapes+=("http2 and grpc $HTTP2_CONNECTIONS connections x $HTTP2_STREAMS streams")
fi
shape_text=$(IFS=';'; echo "${shapes[*]}" | sed 's/;/; /g')
echo "Load by $GENERATOR: $shape_text; $MODE, $PAYLOAD requests and replies," \
    "$WARMUP warm-up + $DURATION per run; proxy on core $PROXY_CORE," \
    "load generator and backends on core $CLIENT_CORE."
echo "Proxy CPU per request: the proxy's utime+stime over the whole run (warm-up included)" \
    "divided by the requests completed in it; RSS after the run."
