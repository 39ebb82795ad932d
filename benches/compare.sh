#!/usr/bin/env bash
# Side-by-side proxy load on 127.0.0.1: for each RPC protocol (Bolt v1, Dubbo, Tars), the
# same load direct to the backend, through HAProxy in TCP mode (the L4 floor) and through
# xproxy; prints one table: requests/s, p50/p99 latency, the proxy's CPU microseconds per
# request (from its own /proc/<pid>/stat utime+stime) and its RSS.
#
# Needs the repo, cargo and apt (HAProxy is installed with apt-get when missing).
#
# Placement (2 cores): the proxy (xproxy or HAProxy) runs alone on core $PROXY_CORE (1); the
# load generator and the backends share core $CLIENT_CORE (0). Every proxy runs one thread.
#
# Environment (defaults in brackets):
#   XLOAD_DURATION [10s]     measured time per run     XLOAD_WARMUP [1s]
#   XLOAD_CONNECTIONS [4]    XLOAD_CONCURRENCY [16]    (in flight per connection: 64 in all)
#   XLOAD_PAYLOAD [1KiB]     request and reply payload
#   XLOAD_RATE [unset]       total requests/s (fixed rate); unset: closed loop, as fast as
#                            replies come back (latency is then queueing at saturation)
#   XLOAD_PROTOCOLS ["bolt dubbo tars"]   XLOAD_PATHS ["direct haproxy xproxy"]
#   XLOAD_BASE_PORT [23100]  ports BASE+1.. are used on 127.0.0.1
#   CLIENT_CORE [0]  PROXY_CORE [1]
#   XLOAD_SKIP_BUILD [unset] set to 1 to use the binaries already built
#   CARGO_TARGET_DIR [target]
set -euo pipefail

DURATION=${XLOAD_DURATION:-10s}
WARMUP=${XLOAD_WARMUP:-1s}
CONNECTIONS=${XLOAD_CONNECTIONS:-4}
CONCURRENCY=${XLOAD_CONCURRENCY:-16}
PAYLOAD=${XLOAD_PAYLOAD:-1KiB}
RATE=${XLOAD_RATE:-}
RATE_ARGS=()
MODE="closed loop"
if [[ -n $RATE ]]; then
    RATE_ARGS=(--rate "$RATE")
    MODE="fixed rate $RATE req/s"
fi
PROTOCOLS=${XLOAD_PROTOCOLS:-bolt dubbo tars}
PATHS=${XLOAD_PATHS:-direct haproxy xproxy}
BASE=${XLOAD_BASE_PORT:-23100}
CLIENT_CORE=${CLIENT_CORE:-0}
PROXY_CORE=${PROXY_CORE:-1}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
XLOAD=$TARGET_DIR/release/xload
XPROXY=$TARGET_DIR/release/xproxy
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xload-compare.XXXXXX")
PIDS=()

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

seconds() { # "10s" / "500ms" / "2m" -> whole seconds, rounded up
    case $1 in
        *ms) echo $(( (${1%ms} + 999) / 1000 )) ;;
        *us) echo 1 ;;
        *m) echo $(( ${1%m} * 60 )) ;;
        *s) echo "${1%s}" | awk '{ printf "%d\n", ($1 == int($1)) ? $1 : int($1) + 1 }' ;;
        *) echo "$1" ;;
    esac
}

# Every run is bounded: warm-up + duration + request timeout + slack.
RUN_LIMIT=$(( $(seconds "$WARMUP") + $(seconds "$DURATION") + 5 + 10 ))

port_of() { # role protocol -> port
    local i
    case $2 in bolt) i=1 ;; dubbo) i=2 ;; tars) i=3 ;; *) log "unknown protocol $2"; exit 2 ;; esac
    case $1 in backend) echo $((BASE + i)) ;; haproxy) echo $((BASE + 10 + i)) ;; xproxy) echo $((BASE + 20)) ;; esac
}

wait_port() { # port: wait up to 10 s for something to listen
    local _
    for _ in $(seq 1 100); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$1"
    return 1
}

start() { # core log command...: start pinned in the background, record its pid
    local core=$1 logfile=$2
    shift 2
    taskset -c "$core" "$@" > "$logfile" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

cpu_ticks() { # pid -> utime+stime in clock ticks (fields 14 and 15; comm may hold spaces)
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

field() { # json key -> value (the JSON is one flat line)
    sed -E "s/.*\"$2\":([^,}]*).*/\\1/" <<< "$1"
}

# --- build and install ------------------------------------------------------------------------
if [[ -z ${XLOAD_SKIP_BUILD:-} ]]; then
    log "building release binaries"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p xproxy -p xproxy-benches \
        --bin xproxy --bin xload)
fi
[[ -x $XLOAD && -x $XPROXY ]] || { log "missing $XLOAD or $XPROXY"; exit 1; }
if [[ $PATHS == *haproxy* ]] && ! command -v haproxy > /dev/null; then
    log "installing haproxy"
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq haproxy > /dev/null
fi
command -v taskset > /dev/null || { log "taskset (util-linux) is needed"; exit 1; }

# Bound the rest of the script: every run is bounded by `timeout`, every wait for a port by
# 10 s, and no run starts after the budget (the runs' limits plus a minute) is spent.
set -- $PROTOCOLS
n_protocols=$#
set -- $PATHS
DEADLINE=$(( SECONDS + 60 + n_protocols * $# * RUN_LIMIT ))

# --- backends ---------------------------------------------------------------------------------
for p in $PROTOCOLS; do
    start "$CLIENT_CORE" "$WORK/backend-$p.log" "$XLOAD" serve --protocol "$p" \
        --listen "127.0.0.1:$(port_of backend "$p")" --payload "$PAYLOAD" --threads 1
done
for p in $PROTOCOLS; do wait_port "$(port_of backend "$p")"; done

# --- proxies ----------------------------------------------------------------------------------
declare -A PROXY_PID
if [[ $PATHS == *haproxy* ]]; then
    {
        printf 'global\n    maxconn 2000\n    nbthread 1\n\n'
        printf 'defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n'
        printf '    timeout server 60s\n\n'
        for p in $PROTOCOLS; do
            printf 'frontend fe_%s\n    bind 127.0.0.1:%s\n    default_backend be_%s\n\n' \
                "$p" "$(port_of haproxy "$p")" "$p"
            printf 'backend be_%s\n    server s1 127.0.0.1:%s\n\n' "$p" "$(port_of backend "$p")"
        done
    } > "$WORK/haproxy.cfg"
    haproxy -c -q -f "$WORK/haproxy.cfg"
    # -db: stay in the foreground, one process, so $! is the process that does the work.
    start "$PROXY_CORE" "$WORK/haproxy.log" haproxy -db -f "$WORK/haproxy.cfg"
    PROXY_PID[haproxy]=$LAST_PID
    for p in $PROTOCOLS; do wait_port "$(port_of haproxy "$p")"; done
fi
if [[ $PATHS == *xproxy* ]]; then
    {
        printf 'listeners:\n  - name: load\n    address: 127.0.0.1:%s\n' "$(port_of xproxy bolt)"
        printf 'admin:\n  address: null\n'
        printf 'routes:\n'
        for p in $PROTOCOLS; do
            printf '  - protocol: %s\n    routes:\n      - action:\n          cluster: %s\n' "$p" "$p"
        done
        printf 'clusters:\n'
        for p in $PROTOCOLS; do
            printf '  - name: %s\n    endpoints:\n      - address: 127.0.0.1:%s\n' \
                "$p" "$(port_of backend "$p")"
        done
    } > "$WORK/xproxy.yaml"
    "$XPROXY" validate -c "$WORK/xproxy.yaml" > /dev/null
    start "$PROXY_CORE" "$WORK/xproxy.log" "$XPROXY" run -c "$WORK/xproxy.yaml" --log-level warn
    PROXY_PID[xproxy]=$LAST_PID
    wait_port "$(port_of xproxy bolt)"
fi

# --- runs -------------------------------------------------------------------------------------
ROWS=()
log "each run: $CONNECTIONS connections x $CONCURRENCY in flight, $MODE, $PAYLOAD payloads," \
    "$WARMUP warm-up + $DURATION"
for p in $PROTOCOLS; do
    for path in $PATHS; do
        case $path in
            direct) port=$(port_of backend "$p") ;;
            haproxy) port=$(port_of haproxy "$p") ;;
            xproxy) port=$(port_of xproxy "$p") ;;
            *) log "unknown path $path"; exit 2 ;;
        esac
        if (( SECONDS + RUN_LIMIT > DEADLINE )); then
            log "$p via $path: skipped, out of time"
            ROWS+=("$p|$path|skipped|||||")
            continue
        fi
        pid=${PROXY_PID[$path]:-}
        if [[ -n $pid ]]; then ticks0=$(cpu_ticks "$pid"); fi
        log "$p via $path (127.0.0.1:$port)"
        json=$(timeout "$RUN_LIMIT" taskset -c "$CLIENT_CORE" "$XLOAD" --protocol "$p" \
            --target "127.0.0.1:$port" --connections "$CONNECTIONS" --concurrency "$CONCURRENCY" \
            --payload "$PAYLOAD" --warmup "$WARMUP" --duration "$DURATION" --threads 1 \
            "${RATE_ARGS[@]}" --json) \
            || { log "$p via $path: xload failed"; ROWS+=("$p|$path|failed|||||"); continue; }
        rps=$(field "$json" rps)
        p50=$(field "$json" p50_us)
        p99=$(field "$json" p99_us)
        failed=$(field "$json" failed)
        cpu=-
        rss=-
        if [[ -n $pid ]]; then
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
        "$cpu" "$rss" "${failed:--}"
done
echo
echo "$CONNECTIONS connections x $CONCURRENCY in flight, $MODE, $PAYLOAD requests and replies," \
    "$WARMUP warm-up + $DURATION per run; proxy on core $PROXY_CORE," \
    "load generator and backends on core $CLIENT_CORE."
echo "Proxy CPU per request: the proxy's utime+stime over the whole run (warm-up included)" \
    "divided by the requests completed in it; RSS after the run."
