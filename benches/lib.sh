# Helpers shared by the bench scripts (compare.sh, idle.sh, drain.sh, recovery.sh); source it
# after defining `log` (each script prefixes its own messages).

wait_port() { # port [pid]: wait up to 10 s for something to listen on 127.0.0.1:port (while pid lives)
    local _
    for _ in $(seq 1 100); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        if [[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null; then
            log "the process meant to listen on 127.0.0.1:$1 exited"
            return 1
        fi
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$1"
    return 1
}

field() { # json key -> value (xload's JSON is one flat line); empty when the key is absent
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<< "$1"
}
