#!/usr/bin/env bash
# The browser walks (e2e/): playwright-core, pinned in e2e/package-lock.json, drives Debian's
# Chromium through the guide's Steps 5 and 6 against a real `ontrackio serve` and
# `ontrackio entra-emulator`, both started by the tests on 127.0.0.1. Writes the README's
# screenshots to docs/screenshots/. Fails when a walk fails; stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
node --version

(cd e2e && npm ci --no-audit --no-fund)

# .ci/run's `cargo test --workspace` has built this already: then this is a no-op.
cargo build -p ontrackio --bin ontrackio
export ONTRACKIO_BIN="${ONTRACKIO_BIN:-$(realpath "${CARGO_TARGET_DIR:-target}")/debug/ontrackio}"

# The runner, its test files and the servers they start share one process group, so an
# interrupted run leaves nothing behind.
cd e2e
setsid node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec tests/ &
runner=$!
trap 'kill -TERM -- "-$runner" 2>/dev/null || true' EXIT
status=0
wait "$runner" || status=$?
trap - EXIT

echo "browser suite: $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
