#!/usr/bin/env bash
# Several nodes on one PostgreSQL, and the database fault test with its own PostgreSQL
# instance (crates/ontrackio/tests/web/multi_node.rs). They already ran in .ci/run's
# PostgreSQL pass; a test that cannot run there only prints why and passes, so this step
# runs them once more (already built: nothing compiles) and fails if any of them skipped:
# a green CI run means they really ran. Prints the measured fault timings.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL="${ONTRACKIO_CI_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
log=/tmp/ontrackio-ci-multinode.log
drop_test_databases() {
  psql "$PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'ontrackio_test_%'" \
    | while read -r db; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null || true; done
}
trap drop_test_databases EXIT

# The fault test runs initdb/pg_ctl as the postgres user, which needs root.
[ "$(id -u)" -eq 0 ] || { echo "the database fault test needs root (it runs PostgreSQL as the postgres user)"; exit 1; }
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql"; exit 1; }

ONTRACKIO_TEST_POSTGRES_URL="$PG_URL" cargo test --workspace -- multi_node --nocapture 2>&1 | tee "$log"
test "${PIPESTATUS[0]}" -eq 0
# (--nocapture interleaves: a reason may follow `test … ` on the same line.)
if grep -E 'skipped: ' "$log"; then
  echo "some multi-node tests skipped instead of running (reasons above)"
  exit 1
fi
ran=$(grep -cE '^test multi_node::.* ok$' "$log" || true)
echo "multi-node and fault tests: ${ran} ran, none skipped"
grep -E '^(database fault|NOTIFY)' "$log" || true
