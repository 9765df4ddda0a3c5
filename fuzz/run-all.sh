#!/usr/bin/env bash
# Runs every fuzz target (sotto-proto decoders and the server's parsers) for SECONDS each (default
# 30); exits non-zero if any crashed.
#
#   bash fuzz/run-all.sh          # about 13 minutes for the twenty-five targets, after the build
#   bash fuzz/run-all.sh 1800     # nightly: half an hour per target
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them, so no nightly toolchain is needed. A crash leaves its input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ so `cargo test` replays it
# (crates/sotto-proto/tests/fuzz_corpus.rs), and fix the code.
set -euo pipefail
secs="${1:-30}"
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
cargo fuzz build
mkdir -p artifacts
status=0
for target in $(cargo fuzz list); do
    log="artifacts/$target.log"
    if cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1; then
        echo "fuzz $target: $(grep -E '^Done' "$log" || echo 'done')"
    else
        echo "fuzz $target: CRASH (inputs in fuzz/artifacts/$target/)"
        tail -n 40 "$log"
        status=1
    fi
done
exit "$status"
