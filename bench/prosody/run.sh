#!/usr/bin/env bash
# Runs the relay benchmark's workload against Prosody on this machine, for a same-box comparison
# with `loadgen` (bench/README.md). One run per call, on a fresh server:
#
#   bench/prosody/run.sh closed 100 100000 10     # closed loop, window 10 per user
#   bench/prosody/run.sh open 100 50000 5000      # open loop, 5,000 sends/s in total
#
# It installs Prosody from the distribution if it is missing, writes a throwaway configuration
# (prosody.cfg.lua.in) and a self-signed certificate into a temporary folder, starts Prosody
# there as its own process on a loopback port (not the system service), registers USERS
# accounts, runs `xmpp_load` (bench/loadgen/src/bin/xmpp_load.rs) against it, stops it and
# prints the figures. The exit status is xmpp_load's: 0 only if every message was delivered
# and nothing failed.
#
# Environment: XMPP_LOAD, the xmpp_load binary (default: the release build under
# ${CARGO_TARGET_DIR:-target}, built first if missing); PORT, the loopback port (default: a free
# one); KEEP=1 keeps the temporary folder (configuration, log) for a look afterwards; GC, a
# value for Prosody's `gc` option (default: none, Prosody's own incremental collector with
# threshold 105), e.g. GC='{ mode = "generational" }'.
set -euo pipefail

usage() {
    echo "usage: $0 closed|open USERS MESSAGES WINDOW|RATE [xmpp_load options]" >&2
    exit 2
}
[[ $# -ge 4 ]] || usage
[[ $1 == closed || $1 == open ]] || usage
users=$2
[[ $users =~ ^[0-9]+$ ]] || usage

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if ! command -v prosody >/dev/null; then
    echo "installing prosody" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get install -y prosody >&2
fi

bin=${XMPP_LOAD:-${CARGO_TARGET_DIR:-$root/target}/release/xmpp_load}
if [[ ! -x $bin ]]; then
    (cd "$root" && cargo build --release -p sotto-loadgen --bin xmpp_load) >&2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/prosody-bench.XXXXXX")
pid=""
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${PORT:-}
if [[ -z $port ]]; then
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 30000))
        listening "$port" || break
    done
fi

# Prosody refuses to run as root: as root, it runs as the `prosody` user the package creates.
as_prosody=()
run_as="-- started as the user that runs the benchmark"
if [[ $(id -u) -eq 0 ]]; then
    as_prosody=(setpriv --reuid=prosody --regid=prosody --init-groups)
    run_as='prosody_user = "prosody"'
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
    -keyout "$dir/localhost.key" -out "$dir/localhost.crt" 2>/dev/null
mkdir "$dir/data"
gc="-- gc: Prosody's default"
[[ -z ${GC:-} ]] || gc="gc = $GC"
sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@RUN_AS@|$run_as|" -e "s|@GC@|$gc|" \
    "$here/prosody.cfg.lua.in" >"$dir/prosody.cfg.lua"
[[ $(id -u) -ne 0 ]] || chown -R prosody:prosody "$dir"

echo "prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo '?')" \
    "($(prosodyctl --config "$dir/prosody.cfg.lua" about 2>/dev/null | grep -m1 'Lua version' | tr -s ' ' || true))," \
    "storage: memory (accounts: files), c2s direct TLS on 127.0.0.1:$port, ${gc#-- }"

# The accounts, before the server starts (file storage, read at login).
for ((i = 0; i < users; i++)); do
    "${as_prosody[@]}" prosodyctl --config "$dir/prosody.cfg.lua" register "user$i" localhost bench \
        >/dev/null 2>>"$dir/prosodyctl.log"
done

"${as_prosody[@]}" prosody -F --config "$dir/prosody.cfg.lua" >"$dir/stdout.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    listening "$port" && break
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if ! listening "$port"; then
    echo "prosody did not start listening on 127.0.0.1:$port within 10 s" >&2
    cat "$dir/stdout.log" "$dir/prosody.log" >&2 2>/dev/null || true
    exit 1
fi

status=0
"$bin" "$@" --addr "127.0.0.1:$port" --ca "$dir/localhost.crt" --pid "$pid" || status=$?
if [[ -s $dir/prosody.log ]]; then
    echo "prosody log (warnings and errors, last 20 lines):" >&2
    tail -n 20 "$dir/prosody.log" >&2
fi
exit "$status"
