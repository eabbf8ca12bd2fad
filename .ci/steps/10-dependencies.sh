#!/usr/bin/env bash
# Dependency policy: licenses, sources and banned crates (cargo deny). The advisory
# check needs GitHub, which CI cannot reach here (SECURITY.md).
set -euo pipefail
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install cargo-deny --locked --quiet
fi
cargo deny --workspace check bans licenses sources
