#!/usr/bin/env bash
# Benchmark smoke (BENCHMARKS.md): the load driver against a real `ontrackio serve` and
# `ontrackio entra-emulator`, separate processes on loopback, each mode briefly, on SQLite
# and on PostgreSQL. It proves that the driver and the stack work end to end — any error
# fails the step — not the speed: this is the debug build CI already compiled, whose
# figures mean nothing. The full figures come from the release build (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL="${ONTRACKIO_CI_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
log=/tmp/ontrackio-ci-bench.log
: > "$log"
# Each run drops the PostgreSQL database it made; an interrupted one may not have.
drop_bench_databases() {
  psql "$PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'ontrackio_bench_%'" 2>/dev/null \
    | while read -r db; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true; done
}
trap drop_bench_databases EXIT

cargo build -p ontrackio -p ontrackio-bench --bins
bench=target/debug/ontrackio-bench

run() {
  echo "--- ontrackio-bench $*"
  # Each run is bounded: a count, and --max-seconds (the run fails if it is reached).
  "$bench" --max-seconds 300 "$@" 2>&1 | tee -a "$log"
  test "${PIPESTATUS[0]}" -eq 0
}

run signin --signins 300 --warmup 20 --concurrency 16
run signin --db postgres --postgres-url "$PG_URL" --signins 300 --warmup 20 --concurrency 16
run pages --sessions 100 --requests 2000 --concurrency 16
run hello --requests 2000 --concurrency 16

summary=$(grep '^RESULT' "$log" | awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    runs++; ops += f["ok"]; errors += f["errors"]; what = what " " f["mode"] "/" f["db"] }
  END { printf "%d measurements, %d operations, %d errors (%s )", runs, ops, errors, what }')
echo "benchmark smoke: ${summary}"
case "$summary" in *", 0 errors"*) ;; *) exit 1 ;; esac
