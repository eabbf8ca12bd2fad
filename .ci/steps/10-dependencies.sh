#!/usr/bin/env bash
# Dependency policy (cargo deny): known vulnerabilities, licenses, sources and banned
# crates. The RustSec advisory database lives on GitHub, which CI cannot reach; the
# offline snapshot in ../shared/advisory-db (its SNAPSHOT.md says which commit and date)
# is laid out as the git clone cargo-deny expects, at deny.toml's `db-path`, dated as the
# snapshot, and checked with fetching disabled. Advisories published after the snapshot's
# date are not covered (SECURITY.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install cargo-deny --locked --quiet
fi

snapshot=../shared/advisory-db
[ -f "$snapshot/SNAPSHOT.md" ] || { echo "no advisory snapshot at $snapshot"; exit 1; }
commit=$(grep -oE 'commit [0-9a-f]{40}' "$snapshot/SNAPSHOT.md" | head -n1 | cut -d' ' -f2)
date=$(grep -oE '\(20[0-9]{2}-[0-9]{2}-[0-9]{2}\)' "$snapshot/SNAPSHOT.md" | head -n1 | tr -d '()')
[ -n "$commit" ] && [ -n "$date" ] || { echo "SNAPSHOT.md names no commit or date"; exit 1; }
# cargo-deny's directory name for https://github.com/rustsec/advisory-db.
db=target/advisory-db/advisory-db-3157b0e258782691
rm -rf "$db"
mkdir -p "$db"
cp -R "$snapshot/." "$db/"
chmod -R u+w "$db"
(
  cd "$db"
  git init -q
  git add -A
  GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z" \
    git -c user.name=ci -c user.email=ci@localhost commit -q -m "RustSec advisory-db snapshot ${commit}"
)
echo "advisory database: RustSec snapshot ${commit:0:12} of ${date} (nothing published after it is checked)"

# `--offline` also keeps `cargo metadata` offline, so every platform's crates must be in
# the local registry first (crates.io is reachable).
cargo fetch --quiet
cargo deny --workspace --offline check advisories bans licenses sources
