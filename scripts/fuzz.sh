#!/usr/bin/env bash
# Runs every cargo-fuzz target for a set time (default 600 s each), all at once at low
# priority, and prints each target's executions and coverage. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit non-zero: turn it into a test.
#
#   scripts/fuzz.sh [seconds]
#
# cargo-fuzz drives libFuzzer with flags only nightly rustc accepts; RUSTC_BOOTSTRAP lets
# the one stable toolchain here build it (fuzzing builds only, never the product).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer none -O

seed() { mkdir -p "corpus/$1"; printf '%s' "$2" > "corpus/$1/seed-$3"; }
seed callback_query 'code=0.AXkA&state=abc_DEF-123&session_state=x' 1
seed callback_query 'error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3A+User+declined&state=s' 2
seed id_token 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJhdWQiOiI2ZTc0MTcyYi1iZTU2LTQ4NDMtOWZmNC1lNjZhMzliYjEyZTMiLCJpc3MiOiJodHRwczovL2xvZ2luLm1pY3Jvc29mdG9ubGluZS5jb20vNzJmOTg4YmYtODZmMS00MWFmLTkxYWItMmQ3Y2QwMTFkYjQ3L3YyLjAiLCJpYXQiOjE1MzcyMzEwNDgsIm5iZiI6MTUzNzIzMTA0OCwiZXhwIjoxNTM3MjM0OTQ4LCJub25jZSI6Im4iLCJvaWQiOiI2OTAyMjJiZS1mZjFhLTRkNTYtYWJkMS03ZTRmN2QzOGU0NzQiLCJzdWIiOiJzIiwidGlkIjoiNzJmOTg4YmYtODZmMS00MWFmLTkxYWItMmQ3Y2QwMTFkYjQ3In0.c2ln' 1
seed host_header 'acme.localhost:8080' 1
seed host_header 'acme.app.ontrackio.com' 2
seed email_and_domains 'Adele.Vance@ACME.test' 1
seed email_and_domains 'acme.com, acme.co.uk' 2
seed email_and_domains '/my/dashboard?x=1' 3
seed settings_form 'csrf_token=x&enabled=on&tenant_id=common&client_id=6e74172b-be56-4843-9ff4-e66a39bb12e3&client_secret=Qx8~mN3pL.vR7tY2wK_aZ5cB9dF4gH6jS1eU0oIz&redirect_uri=&allowed_domains=acme.test&secret_expires_on=2027-11-27' 1

seed saml_response '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" Destination="https://acme.example.com/saml/acs" InResponseTo="_r"><saml:Issuer>https://sts.windows.net/t/</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a" Version="2.0"><saml:Issuer>https://sts.windows.net/t/</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a"/></ds:SignedInfo><ds:SignatureValue>AA==</ds:SignatureValue></ds:Signature><saml:Subject><saml:NameID>a@acme.test</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>' 1

targets=(callback_query id_token host_header email_and_domains settings_form saml_response)
mkdir -p logs
pids=()
for t in "${targets[@]}"; do
  nice -n 10 cargo fuzz run --sanitizer none -O "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 > "logs/$t.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || { status=1; echo "${targets[$i]}: FINDING (see fuzz/artifacts/${targets[$i]}/)"; }
done
for t in "${targets[@]}"; do
  execs=$(grep -E '^stat::number_of_executed_units' "logs/$t.log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+.*DONE' "logs/$t.log" | grep -oE 'cov: [0-9]+' | tail -1)
  echo "$t: ${secs} s, ${execs:-?} executions, ${cov:-cov: ?}, corpus $(ls "corpus/$t" | wc -l) inputs"
done
exit "$status"
