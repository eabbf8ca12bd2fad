"""Microsoft's own MSAL for Python against the Entra emulator over TLS (issue 15): the
authorization-code flow with PKCE, the account built from `client_info`, a silent
refresh, and Graph /me with the access token. Run by .ci/steps/25-msal.sh, which starts
`ontrackio entra-emulator --tls --auto-select` and passes its URL and certificate.

Exits non-zero, naming the step, when MSAL and the emulator disagree."""

import os
import sys
import urllib.parse

import msal
import requests

BASE = os.environ["EMULATOR_URL"]  # https://127.0.0.1:PORT
CA = os.environ["REQUESTS_CA_BUNDLE"]
TENANT = "3f6d9c2a-8b41-4e7d-9a15-6c2e0b7d4f81"  # Acme
CLIENT_ID = "c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45"
SECRET = "Qx8~mN3pL.vR7tY2wK_aZ5cB9dF4gH6jS1eU0oIz"
REDIRECT = "http://acme.localhost:8080/auth/microsoft/callback"
ALEX = "alex.wilber@acme.test"
ALEX_OID = "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def check(ok, what):
    if not ok:
        print(f"MSAL check failed: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


app = msal.ConfidentialClientApplication(
    CLIENT_ID,
    client_credential=SECRET,
    authority=f"{BASE}/{TENANT}",
    # No internet here: MSAL must not ask login.microsoftonline.com about the authority.
    instance_discovery=False,
    validate_authority=False,
)
flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT, login_hint=ALEX)
check("code_challenge" in flow["auth_uri"], "MSAL sends a PKCE challenge")
# The emulator signs the hinted account in without a page (--auto-select).
answer = requests.get(flow["auth_uri"], allow_redirects=False, verify=CA, timeout=10)
check(answer.status_code in (302, 303), f"authorize redirects back (HTTP {answer.status_code})")
params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))
result = app.acquire_token_by_auth_code_flow(flow, params)
check("access_token" in result, f"the code is redeemed: {result.get('error_description', '')}")
claims = result.get("id_token_claims", {})
check(claims.get("oid") == ALEX_OID, "the ID token names Alex")
check("Admin" in claims.get("roles", []), "the ID token carries Alex's app roles")
accounts = app.get_accounts(username=ALEX)
check(len(accounts) == 1, "MSAL keeps one account for Alex")
check(
    accounts[0]["home_account_id"] == f"{ALEX_OID}.{TENANT}",
    "the account's home id comes from client_info (uid.utid)",
)
silent = app.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
check(silent is not None and "access_token" in silent, "a silent refresh with the refresh token")
me = requests.get(
    f"{BASE}/graph/v1.0/me",
    headers={"Authorization": f"Bearer {silent['access_token']}"},
    verify=CA,
    timeout=10,
)
check(me.status_code == 200 and me.json().get("id") == ALEX_OID, "Graph /me answers for Alex")
print("MSAL for Python and the emulator agree: 9 checks passed")
