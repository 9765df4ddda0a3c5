#!/usr/bin/env bash
# Runs one load-generator pass against a server started here by hand, and prints, per server
# thread name, the CPU time it used and the time it spent *runnable but waiting for a CPU*
# (/proc/<pid>/task/<tid>/schedstat), plus the server's group-commit metrics. On a 2-core machine
# shared with the load generator the second figure shows whether a stage is starved or idle.
#
#   bench/thread-times.sh closed 100 100000 10
#   bench/thread-times.sh open 100 50000 5000
#
# Environment: BIN (folder with release `sotto-server` and `loadgen`, default target/release),
# PORT (default 9443), SERVER_WORKERS / LOADGEN_WORKERS (TOKIO_WORKER_THREADS of each process;
# unset = tokio's default, one per core).
set -euo pipefail
BIN=${BIN:-target/release}
PORT=${PORT:-9443}
DATA=$(mktemp -d)
# /metrics answers only with this token (docs/configuration.md, `metrics_token`).
export SOTTO_METRICS_TOKEN=${SOTTO_METRICS_TOKEN:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT

env ${SERVER_WORKERS:+TOKIO_WORKER_THREADS=$SERVER_WORKERS} \
    "$BIN/sotto-server" --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do
    curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

# name cpu_ms wait_ms, summed over the threads of each name
snapshot() {
    for task in /proc/"$SERVER"/task/*; do
        printf '%s %s\n' "$(cat "$task/comm")" "$(cut -d' ' -f1,2 "$task/schedstat")"
    done | awk '{c[$1] += $2 / 1e6; w[$1] += $3 / 1e6} END {for (k in c) printf "%s %d %d\n", k, c[k], w[k]}' | sort
}

snapshot >"$DATA/before"
env ${LOADGEN_WORKERS:+TOKIO_WORKER_THREADS=$LOADGEN_WORKERS} \
    "$BIN/loadgen" "$@" --attach "$SERVER" --listen "127.0.0.1:$PORT" --data-dir "$DATA"
snapshot >"$DATA/after"

echo "server threads during the run (CPU used / runnable but waiting for a CPU):"
join "$DATA/before" "$DATA/after" |
    awk '{printf "  %-18s cpu %6d ms   waiting %6d ms\n", $1, $4 - $2, $5 - $3}'
curl -sk -H "Authorization: Bearer $SOTTO_METRICS_TOKEN" "https://127.0.0.1:$PORT/metrics" | grep -E '^sotto_(group_commit|envelope_commit_seconds_(sum|count))'
