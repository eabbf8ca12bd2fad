#!/usr/bin/env bash
# The README's first command, exactly as the README prints it, as a newcomer runs it: from
# a fresh clone in an empty temporary directory. Waits for the sign-in page on
# acme.localhost, signs in with the credentials the demo printed, then stops it. The command
# is read from the README each time, so this step follows the README rather than a copy.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
start=$(date +%s)

# The first line of the README's "two commands" block that runs the demo, its comment cut.
command=$(awk '/^## The two commands/{f=1} f && /^```sh/{b=1; next} b && /^```/{exit} b' README.md \
  | grep -m1 -E '^cargo run .*demo' | sed -E 's/[[:space:]]+#.*$//')
[ -n "$command" ] || { echo "no demo command found in the README's two-commands block"; exit 1; }
echo "README's demo command: $command"

port=8080
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is in use; the README's command needs it free"
  exit 1
fi

work=$(mktemp -d)
demo=""
# Stops the demo's whole process group (cargo, the demo, anything they started): SIGTERM,
# then up to 30 s to exit, then SIGKILL. Fails if SIGKILL was needed.
stop_demo() {
  kill -TERM -- "-$demo" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 -- "-$demo" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$demo" 2>/dev/null || true
  return 1
}
cleanup() {
  if [ -n "$demo" ]; then stop_demo || true; wait "$demo" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet "$repo" "$work/ontrackio"
cd "$work/ontrackio"
# CARGO_TARGET_DIR only relocates build output: to a directory of its own in the CI
# checkout, kept between runs so later runs rebuild only the product's crates. Not the
# checkout's own target/: two checkouts of one workspace sharing a target directory share
# its mtime-based fingerprints, so either can take the other's build as up to date and run
# the other's code (rust-lang/cargo#17312). The sources, the data directory and the working
# directory are the clone's.
export CARGO_TARGET_DIR="$repo/target/readme-demo"
setsid bash -c "$command" >"$work/demo.out" 2>"$work/demo.err" &
demo=$!

# The first release build can take minutes; the demo prints its banner once it listens.
deadline=$(( $(date +%s) + 1500 ))
until grep -q '^  Password:' "$work/demo.out" 2>/dev/null; do
  if ! kill -0 "$demo" 2>/dev/null; then
    echo "the demo exited before printing its banner:"; tail -n 30 "$work/demo.err"; exit 1
  fi
  [ "$(date +%s)" -lt "$deadline" ] || { echo "no banner within 25 minutes"; tail -n 30 "$work/demo.err"; exit 1; }
  sleep 1
done
login_url=$(awk '/Sign in at:/{print $NF}' "$work/demo.out")
email=$(awk '/Super-admin:/{print $NF}' "$work/demo.out")
password=$(awk '/Password:/{print $NF}' "$work/demo.out")
echo "printed: sign in at $login_url as $email"
[ "$login_url" = "http://acme.localhost:$port/login" ] || { echo "unexpected sign-in address: $login_url"; exit 1; }
origin="http://acme.localhost:$port"
resolve=(--resolve "acme.localhost:$port:127.0.0.1")
jar="$work/cookies"

# GET /login until it answers 200 (bounded).
ok=""
for _ in $(seq 1 100); do
  code=$(curl -s -o "$work/login.html" -w '%{http_code}' -c "$jar" -b "$jar" "${resolve[@]}" "$login_url" || true)
  if [ "$code" = 200 ]; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { echo "GET $login_url never answered 200"; exit 1; }

csrf=$(grep -o 'name="csrf_token" value="[^"]*"' "$work/login.html" | head -n1 | sed -E 's/.*value="([^"]*)"/\1/')
[ -n "$csrf" ] || { echo "no csrf_token on the sign-in page"; exit 1; }
location=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" "${resolve[@]}" \
  -H "Origin: $origin" \
  --data-urlencode "csrf_token=$csrf" --data-urlencode "email=$email" \
  --data-urlencode "password=$password" --data-urlencode "return_to=" \
  "$origin/login")
[ "$location" = "$origin/admin/dashboard" ] || { echo "sign-in did not land on Admin → Dashboard: '$location'"; exit 1; }
code=$(curl -s -o "$work/dashboard.html" -w '%{http_code}' -b "$jar" "${resolve[@]}" "$origin/admin/dashboard")
[ "$code" = 200 ] || { echo "Admin → Dashboard answered $code"; exit 1; }
grep -q 'Dashboard' "$work/dashboard.html" || { echo "Admin → Dashboard did not render"; exit 1; }

stopped=1
stop_demo || stopped=""
status=0
wait "$demo" || status=$?
demo=""
[ -n "$stopped" ] || { echo "the demo did not stop within 30 s of SIGTERM; killed"; tail -n 30 "$work/demo.err"; exit 1; }
# SIGTERM ends the demo through its graceful shutdown: exit 0, or 143 from the shell.
case "$status" in 0|143) ;; *) echo "the demo exited with $status"; tail -n 30 "$work/demo.err"; exit 1 ;; esac
echo "README demo command: started from a fresh clone, signed in as $email, stopped ($(( $(date +%s) - start )) s)"
