#!/usr/bin/env bash
# Browser end-to-end tests of the web client: builds the server and the bundle, installs
# Debian's Chromium if it is missing, runs web/e2e/run.mjs (playwright-core) against a real
# sotto-server on a free loopback port, and exits non-zero on any failure. Screenshots go to
# $E2E_OUT (default: a fresh temp folder, printed at the end).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
web="$(dirname "$here")"
repo="$(dirname "$web")"

if [ ! -x /usr/bin/chromium ]; then
  echo "[e2e] installing chromium (apt-get)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

# Reactions are emoji: without a colour emoji font the screenshots show empty boxes. Not needed
# for a test to pass, so a failed install only warns.
if ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  echo "[e2e] installing an emoji font (apt-get)"
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null \
    || echo "[e2e] no emoji font: reactions show as boxes in screenshots"
fi

if [ -d "$repo/crates/sotto-cli" ] && [ "${E2E_SKIP_CLI_BUILD:-}" = "" ]; then
  # One cargo invocation for both: built separately, each unifies dependency features differently
  # and the dependencies are compiled twice. The CLI interop test runs only if `sotto` builds.
  echo "[e2e] building sotto-server and sotto-cli"
  if ! (cd "$repo" && cargo build -q -p sotto-server -p sotto-cli 2>/dev/null); then
    echo "[e2e] sotto-cli does not build: CLI interop test will be skipped"
    (cd "$repo" && cargo build -q -p sotto-server)
  fi
else
  echo "[e2e] building sotto-server"
  (cd "$repo" && cargo build -q -p sotto-server)
fi

# The binaries cargo just built, wherever its target folder is (CARGO_TARGET_DIR, relative to
# the repository when not absolute).
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
export SOTTO_SERVER_BIN="${SOTTO_SERVER_BIN:-$target/debug/sotto-server}"
export SOTTO_CLI_BIN="${SOTTO_CLI_BIN:-$target/debug/sotto}"

cd "$web"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[e2e] npm ci"
  npm ci --no-audit --no-fund
fi
echo "[e2e] building the web bundle"
npx vite build --logLevel warn

exec node e2e/run.mjs
