# PostgreSQL and NATS for the test suite; sourced by scripts/test (bash, `set -euo pipefail`).
#
# `services_up` makes `SOTTO_TEST_DATABASE_URL` and `SOTTO_TEST_NATS_URL` name servers that
# answer, or unsets them:
#   1. a server already answering at the URL (default postgres://postgres@127.0.0.1:5432/test
#      and nats://127.0.0.1:4222; .ci/run starts the machine's own there) is used as it is;
#   2. otherwise, when the programs are installed (`initdb`/`pg_ctl`/`createdb` on PATH or under
#      /usr/lib/postgresql/*/bin, or in $SOTTO_PG_BINDIR; `nats-server` on PATH or at
#      /usr/sbin/nats-server), a throwaway server is started in a temporary folder on a free
#      loopback port (PostgreSQL with trust authentication, run as an unprivileged user when we
#      are root, since initdb refuses root), and stopped and removed on exit;
#   3. otherwise the tests that need it are skipped, with a loud line now and again at exit,
#      saying what was skipped and how to enable it. Under CI=true a skip is an error.
# An explicitly empty variable (SOTTO_TEST_DATABASE_URL=) skips that service on purpose.

SERVICES_TMP=""
SERVICES_PG_BINDIR=""
SERVICES_PG_DATA=""
SERVICES_NATS_PID=""
SERVICES_SKIPPED=()

services_in_ci() { [ "${CI:-}" = "true" ]; }

# `host:port` of a URL such as postgres://user@host:port/db or nats://host:port.
services_host_port() {
  local rest="${1#*://}"
  rest="${rest%%/*}"
  rest="${rest%%\?*}"
  rest="${rest##*@}"
  printf '%s' "$rest"
}

# Whether something accepts TCP connections at `host:port` (within 2 s).
services_answers() {
  local host="${1%:*}" port="${1##*:}"
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# A loopback port nothing listens on (a race with other programs is possible but harmless: the
# server then fails to start and the suite says so).
services_free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! services_answers "127.0.0.1:$port"; then
      printf '%s' "$port"
      return 0
    fi
  done
  return 1
}

services_tmp() {
  if [ -z "$SERVICES_TMP" ]; then
    SERVICES_TMP="$(mktemp -d "${TMPDIR:-/tmp}/sotto-test-services.XXXXXX")"
    chmod 0755 "$SERVICES_TMP"
  fi
}

# Records a skip: an error under CI=true, a loud line otherwise.
services_skip() {
  local what="$1" how="$2"
  if services_in_ci; then
    printf '\nERROR: %s cannot run under CI=true: %s\n' "$what" "$how" >&2
    return 1
  fi
  SERVICES_SKIPPED+=("$what: $how")
  printf '\n!!!!! SKIPPING %s: %s\n' "$what" "$how" >&2
}

services_pg_bindir() {
  if [ -n "${SOTTO_PG_BINDIR:-}" ]; then
    [ -x "$SOTTO_PG_BINDIR/initdb" ] && printf '%s' "$SOTTO_PG_BINDIR"
    return
  fi
  local initdb
  if initdb="$(command -v initdb)"; then
    dirname "$(readlink -f "$initdb")"
    return
  fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && printf '%s' "$dir"
}

services_nats_binary() {
  local candidate
  for candidate in "$(command -v nats-server || true)" /usr/sbin/nats-server; do
    if [ -f "$candidate" ] && [ -x "$candidate" ]; then
      printf '%s' "$candidate"
      return 0
    fi
  done
  return 1
}

# Runs a PostgreSQL program as the user owning the throwaway cluster.
services_pg_run() {
  if [ "$(id -u)" = 0 ]; then
    local user=nobody
    id postgres >/dev/null 2>&1 && user=postgres
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

services_start_postgres() {
  local port user=postgres
  services_tmp
  port="$(services_free_port)"
  SERVICES_PG_DATA="$SERVICES_TMP/pg"
  mkdir -m 0700 "$SERVICES_PG_DATA"
  if [ "$(id -u)" = 0 ]; then
    local owner=nobody
    id postgres >/dev/null 2>&1 && owner=postgres
    chown "$owner" "$SERVICES_PG_DATA"
  fi
  echo "starting a throwaway PostgreSQL ($SERVICES_PG_BINDIR) on 127.0.0.1:$port in $SERVICES_PG_DATA" >&2
  services_pg_run "$SERVICES_PG_BINDIR/initdb" -D "$SERVICES_PG_DATA/data" -U "$user" \
    --auth=trust --encoding=UTF8 --locale=C --no-sync >"$SERVICES_TMP/initdb.log" 2>&1 || {
    cat "$SERVICES_TMP/initdb.log" >&2
    return 1
  }
  # fsync off: the cluster is thrown away; the socket lives in the cluster's own folder.
  services_pg_run "$SERVICES_PG_BINDIR/pg_ctl" -D "$SERVICES_PG_DATA/data" -w -t 60 \
    -l "$SERVICES_PG_DATA/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $SERVICES_PG_DATA -c fsync=off -c max_connections=200" \
    start >/dev/null || {
    cat "$SERVICES_PG_DATA/server.log" >&2
    return 1
  }
  services_pg_run "$SERVICES_PG_BINDIR/createdb" -h 127.0.0.1 -p "$port" -U "$user" test
  export SOTTO_TEST_DATABASE_URL="postgres://$user@127.0.0.1:$port/test"
}

services_start_nats() {
  local binary="$1" port
  services_tmp
  port="$(services_free_port)"
  mkdir -p "$SERVICES_TMP/nats"
  echo "starting a throwaway NATS ($binary) on 127.0.0.1:$port in $SERVICES_TMP/nats" >&2
  "$binary" -js -sd "$SERVICES_TMP/nats" -a 127.0.0.1 -p "$port" \
    -l "$SERVICES_TMP/nats/server.log" &
  SERVICES_NATS_PID=$!
  for _ in $(seq 100); do
    services_answers "127.0.0.1:$port" && break
    sleep 0.1
  done
  if ! services_answers "127.0.0.1:$port"; then
    cat "$SERVICES_TMP/nats/server.log" >&2 || true
    return 1
  fi
  export SOTTO_TEST_NATS_URL="nats://127.0.0.1:$port"
}

# Stops what services_up started and prints the skips once more. Installed as the EXIT trap.
services_down() {
  if [ -n "$SERVICES_NATS_PID" ]; then
    kill "$SERVICES_NATS_PID" 2>/dev/null || true
    wait "$SERVICES_NATS_PID" 2>/dev/null || true
  fi
  if [ -n "$SERVICES_PG_DATA" ] && [ -f "$SERVICES_PG_DATA/data/postmaster.pid" ]; then
    services_pg_run "$SERVICES_PG_BINDIR/pg_ctl" -D "$SERVICES_PG_DATA/data" -m immediate \
      stop >/dev/null 2>&1 || true
  fi
  if [ -n "$SERVICES_TMP" ]; then
    rm -rf "$SERVICES_TMP"
  fi
  local skip
  for skip in "${SERVICES_SKIPPED[@]}"; do
    printf '!!!!! SKIPPED %s\n' "$skip" >&2
  done
}

services_up() {
  trap services_down EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [ -z "${SOTTO_TEST_DATABASE_URL+set}" ]; then
    export SOTTO_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
  fi
  if [ -z "$SOTTO_TEST_DATABASE_URL" ]; then
    unset SOTTO_TEST_DATABASE_URL
    services_skip "the PostgreSQL tests" "SOTTO_TEST_DATABASE_URL is set empty; unset it to run them"
  elif services_answers "$(services_host_port "$SOTTO_TEST_DATABASE_URL")"; then
    echo "PostgreSQL: using $SOTTO_TEST_DATABASE_URL" >&2
  elif SERVICES_PG_BINDIR="$(services_pg_bindir)" && [ -n "$SERVICES_PG_BINDIR" ]; then
    services_start_postgres
  else
    local wanted="$SOTTO_TEST_DATABASE_URL"
    unset SOTTO_TEST_DATABASE_URL
    services_skip "the PostgreSQL tests" "nothing answers at $wanted and initdb/pg_ctl are not installed (apt-get install postgresql, or start a server and set SOTTO_TEST_DATABASE_URL)"
  fi

  if [ -z "${SOTTO_TEST_NATS_URL+set}" ]; then
    export SOTTO_TEST_NATS_URL="nats://127.0.0.1:4222"
  fi
  local nats
  if [ -z "$SOTTO_TEST_NATS_URL" ]; then
    unset SOTTO_TEST_NATS_URL
    services_skip "the NATS fan-out tests" "SOTTO_TEST_NATS_URL is set empty; unset it to run them"
  elif services_answers "$(services_host_port "$SOTTO_TEST_NATS_URL")"; then
    echo "NATS: using $SOTTO_TEST_NATS_URL" >&2
  elif nats="$(services_nats_binary)"; then
    services_start_nats "$nats"
  else
    local wanted="$SOTTO_TEST_NATS_URL"
    unset SOTTO_TEST_NATS_URL
    services_skip "the NATS fan-out tests" "nothing answers at $wanted and nats-server is not installed (apt-get install nats-server, or start one and set SOTTO_TEST_NATS_URL)"
  fi
}
