#!/bin/sh
# The backlog drain benchmark: the time one `sotto recv` takes to work through 10,000 forged
# envelopes (valid headers, 1 KiB of garbage ciphertext, garbage signatures) and 10 honest
# messages, on a fresh in-process server and profile per run; prints each run and the median.
# Figures: bench/README.md, "Backlog drain". Usage: bench/drain.sh [runs] [--release]
set -eu
cd "$(dirname "$0")/.."
runs="${1:-3}"
profile="${2:-}"
SOTTO_BENCH_RUNS="$runs" exec cargo test $profile --locked -p sotto-cli --test backlog -- \
    --ignored --nocapture bench_drain_10000_forged_envelopes
