#!/usr/bin/env bash
# Microsoft's MSAL for Python (pinned) against `ontrackio entra-emulator --tls`: the
# emulator's fidelity as Microsoft's own client sees it (issue 15). Needs PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
venv=target/msal-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check msal==1.39.0 requests
cargo build -p ontrackio --bin ontrackio
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/ontrackio"
work=$(mktemp -d)
out="$work/emulator.log"
setsid "$bin" entra-emulator --listen 127.0.0.1:0 --auto-select --tls --tls-cert-out "$work/ca.pem" >"$out" 2>&1 &
emulator=$!
trap 'kill -TERM -- "-$emulator" 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 100); do
  url=$(grep -oE 'listening on https://127\.0\.0\.1:[0-9]+' "$out" | head -1 | sed 's/listening on //' || true)
  [ -n "$url" ] && [ -s "$work/ca.pem" ] && break
  if ! kill -0 "$emulator" 2>/dev/null; then cat "$out"; echo "the emulator exited"; exit 1; fi
  sleep 0.1
done
[ -n "$url" ] || { cat "$out"; echo "the emulator did not start"; exit 1; }
EMULATOR_URL="$url" REQUESTS_CA_BUNDLE="$work/ca.pem" "$venv/bin/python" scripts/msal-check.py
echo "MSAL step: $(( $(date +%s) - start )) s"
