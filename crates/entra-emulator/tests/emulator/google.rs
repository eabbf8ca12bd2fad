//! The Google emulator, asserting the shapes of `docs/spec/google-identity.md`: discovery,
//! JWKS and its rotation, the account picker, Google's error pages and token errors, PKCE,
//! single-use codes, ID-token claims (`hd`, `email_verified`), userinfo, every misbehaviour,
//! and a full code flow with the `openidconnect` crate.

use std::time::{Duration, Instant};

use entra_emulator::google::demo::*;
use entra_emulator::google::{
    GoogleAccount, GoogleClient, GoogleDirectory, GoogleEmulator, GoogleEndpoint, GoogleHandle,
    GoogleMisbehaviour,
};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::support::{
    client, decode, get, get_json, get_text, header, keys, location, location_params,
    picker_request_id, pkce, query, rsa_key,
};

const OTHER_CLIENT_ID: &str =
    "555666777888-zyxwvutsrqponmlkjihgfedcba987654.apps.googleusercontent.com";
const OTHER_CLIENT_SECRET: &str = "GOCSPX-otherotherotherotherothe";

async fn start() -> GoogleHandle {
    GoogleEmulator::builder()
        .start()
        .await
        .expect("google emulator starts")
}

/// The demo directory plus a second client, for codes and tokens of "another app".
fn with_other_client() -> GoogleDirectory {
    let mut directory = GoogleDirectory::demo();
    let mut other = GoogleClient::new(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, "Other App");
    other.redirect_uris.push(DEMO_REDIRECT_URI.to_owned());
    directory.clients.push(other);
    directory
}

/// One authorize request; `url()` adds the usual parameters, `with()` overrides or (with "")
/// removes one.
#[derive(Clone)]
struct Auth {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    nonce: String,
    verifier: String,
    challenge: String,
    extra: Vec<(String, String)>,
}

impl Auth {
    fn demo() -> Self {
        let (verifier, challenge) = pkce();
        Auth {
            client_id: DEMO_CLIENT_ID.to_owned(),
            redirect_uri: DEMO_REDIRECT_URI.to_owned(),
            scope: "openid email profile".to_owned(),
            state: format!("state-{}", uuid::Uuid::new_v4()),
            nonce: format!("nonce-{}", uuid::Uuid::new_v4()),
            verifier,
            challenge,
            extra: Vec::new(),
        }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.extra.retain(|(k, _)| k != name);
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    fn url(&self, google: &GoogleHandle) -> String {
        let params = [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.challenge),
        ];
        let mut params: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
        params.push(("response_type".into(), "code".into()));
        params.push(("code_challenge_method".into(), "S256".into()));
        let query = query(params, &self.extra);
        format!("{}/o/oauth2/v2/auth?{query}", google.issuer())
    }
}

/// Opens the picker (asserting it is one) and returns its HTML.
async fn picker_page(google: &GoogleHandle, auth: &Auth) -> String {
    let page = get(&auth.url(google)).await;
    assert_eq!(page.status(), 200, "the picker is shown");
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Choose an account</h1>"), "{html}");
    html
}

/// Posts the picker's form with `fields` besides the request id.
async fn post_picker(
    google: &GoogleHandle,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let id = picker_request_id(html);
    let mut form = vec![("request", id.as_str())];
    form.extend_from_slice(fields);
    client()
        .post(format!("{}/o/oauth2/v2/auth/select", google.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Opens the picker and picks the account with `email`.
async fn pick(google: &GoogleHandle, auth: &Auth, email: &str) -> reqwest::Response {
    let html = picker_page(google, auth).await;
    post_picker(google, &html, &[("login_hint", email)]).await
}

async fn code(google: &GoogleHandle, auth: &Auth, email: &str) -> String {
    let params = location_params(&pick(google, auth, email).await);
    assert_eq!(params.get("state"), Some(&auth.state));
    params.get("code").expect("a code in the redirect").clone()
}

/// Redeems `code` with `client_secret_post`; `overrides` replace (or, with "", remove) fields.
async fn redeem(
    google: &GoogleHandle,
    auth: &Auth,
    code: &str,
    overrides: &[(&str, &str)],
) -> reqwest::Response {
    let secret = if auth.client_id == OTHER_CLIENT_ID {
        OTHER_CLIENT_SECRET
    } else {
        DEMO_CLIENT_SECRET
    };
    let mut form: Vec<(String, String)> = vec![
        ("code".into(), code.to_owned()),
        ("client_id".into(), auth.client_id.clone()),
        ("client_secret".into(), secret.to_owned()),
        ("redirect_uri".into(), auth.redirect_uri.clone()),
        ("grant_type".into(), "authorization_code".into()),
        ("code_verifier".into(), auth.verifier.clone()),
    ];
    for (k, v) in overrides {
        form.retain(|(fk, _)| fk != k);
        if !v.is_empty() {
            form.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    client()
        .post(format!("{}/token", google.issuer()))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn tokens(google: &GoogleHandle, auth: &Auth, email: &str) -> Value {
    let code = code(google, auth, email).await;
    let response = redeem(google, auth, &code, &[]).await;
    assert_eq!(response.status(), 200, "the code is redeemed");
    response.json().await.unwrap()
}

async fn id_claims(google: &GoogleHandle, auth: &Auth, email: &str) -> Value {
    let body = tokens(google, auth, email).await;
    decode(body["id_token"].as_str().unwrap()).1
}

async fn jwks(google: &GoogleHandle) -> Value {
    get_json(&format!("{}/oauth2/v3/certs", google.issuer())).await
}

/// Verifies `token` against `jwks` as a relying party would (RS256, `aud`, `iss`, `exp`).
fn verify(token: &str, jwks: &Value, issuer: &str) -> Result<Value, String> {
    let (header, _) = decode(token);
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let decoding = rsa_key(jwks, kid).ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[DEMO_CLIENT_ID]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("{e:?}"))
}

// ---------------------------------------------------------------------------------------
// Discovery and keys
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_has_googles_fields_with_the_emulator_as_issuer() {
    let google = start().await;
    let response = get(&google.discovery_url()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(header(&response, "cache-control"), "public, max-age=3600");
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    let text = response.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let base = google.issuer();
    assert_eq!(doc["issuer"], base);
    assert!(!base.ends_with('/'));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/o/oauth2/v2/auth")
    );
    assert_eq!(doc["token_endpoint"], format!("{base}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{base}/v1/userinfo"));
    assert_eq!(doc["revocation_endpoint"], format!("{base}/revoke"));
    assert_eq!(doc["jwks_uri"], format!("{base}/oauth2/v3/certs"));
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_post", "client_secret_basic"])
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["plain", "S256"])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["openid", "email", "profile"])
    );
    assert!(
        doc["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&"email_verified".into())
    );
    assert!(
        doc["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"code".into())
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"authorization_code".into())
    );
    // Field order as in Google's document.
    let order = [
        "\"issuer\"",
        "\"authorization_endpoint\"",
        "\"device_authorization_endpoint\"",
        "\"token_endpoint\"",
        "\"userinfo_endpoint\"",
        "\"revocation_endpoint\"",
        "\"jwks_uri\"",
        "\"response_types_supported\"",
        "\"subject_types_supported\"",
        "\"id_token_signing_alg_values_supported\"",
        "\"scopes_supported\"",
        "\"token_endpoint_auth_methods_supported\"",
        "\"claims_supported\"",
        "\"code_challenge_methods_supported\"",
        "\"grant_types_supported\"",
    ];
    let positions: Vec<usize> = order.iter().map(|f| text.find(f).unwrap()).collect();
    assert!(positions.is_sorted(), "{text}");
    assert_eq!(keys(&doc).len(), order.len());
}

#[tokio::test]
async fn the_jwks_publishes_two_rs256_keys_with_hex_kids_and_googles_cache_headers() {
    let google = start().await;
    let response = client()
        .get(format!("{}/oauth2/v3/certs", google.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "content-type"),
        "application/json; charset=UTF-8"
    );
    assert_eq!(
        header(&response, "cache-control"),
        "public, max-age=21600, must-revalidate, no-transform"
    );
    assert!(header(&response, "expires").ends_with(" GMT"));
    let jwks: Value = response.json().await.unwrap();
    let keys_ = jwks["keys"].as_array().unwrap();
    assert_eq!(keys_.len(), 2, "the signing key and the next one");
    for key in keys_ {
        assert_eq!(keys(key), ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["e"], "AQAB");
        let kid = key["kid"].as_str().unwrap();
        assert_eq!(kid.len(), 40);
        assert!(
            kid.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
    assert_eq!(google.published_kids().len(), 2);
    assert_eq!(google.published_kids()[0], google.active_signing_kid());
}

#[tokio::test]
async fn rotation_promotes_the_published_next_key_so_a_cached_jwks_still_verifies() {
    let google = start().await;
    let cached = jwks(&google).await;
    let before = google.published_kids();
    let old_token = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(decode(&old_token).0["kid"], before[0]);

    let new_kid = google.rotate_signing_key();
    assert_eq!(new_kid, before[1], "the key published as next now signs");
    assert_eq!(google.active_signing_kid(), new_kid);
    let after = google.published_kids();
    assert_eq!(after.len(), 2, "still two keys");
    assert_eq!(after[0], new_kid);
    assert!(!after.contains(&before[0]), "the old signer is gone");

    let token = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(decode(&token).0["kid"], new_kid);
    verify(&token, &cached, &google.issuer()).expect("the cached JWKS knows the new signer");
    let fresh = jwks(&google).await;
    verify(&token, &fresh, &google.issuer()).expect("so does the fresh one");
    assert!(
        verify(&old_token, &fresh, &google.issuer()).is_err(),
        "the retired key's tokens no longer verify"
    );

    // A second rotation brings a signer the first cache never saw: refetch on unknown kid.
    let third = google.rotate_signing_key();
    assert!(!before.contains(&third));
    let token = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(verify(&token, &cached, &google.issuer()).is_err());
    verify(&token, &jwks(&google).await, &google.issuer()).unwrap();
}

// ---------------------------------------------------------------------------------------
// Authorize: picker, auto-select, hd, errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_picker_lists_every_account_and_a_pick_redirects_with_googles_parameters() {
    let google = start().await;
    let auth = Auth::demo();
    let html = picker_page(&google, &auth).await;
    assert!(html.contains("<title>Sign in - Google Accounts</title>"));
    assert!(html.contains("to continue to <b>OnTrackio</b>"));
    for email in [WORKSPACE_EMAIL, CONSUMER_EMAIL, UNVERIFIED_EMAIL] {
        assert!(html.contains(email), "{email} listed");
    }
    assert!(html.contains("Dana Scully"));

    // The form posts the account's sub.
    let response = post_picker(&google, &html, &[("account", WORKSPACE_SUB)]).await;
    let target = location(&response);
    assert!(
        target.starts_with(&format!("{DEMO_REDIRECT_URI}?")),
        "{target}"
    );
    assert!(
        target.contains("code=4%2F0A"),
        "the code's / arrives encoded: {target}"
    );
    let params = location_params(&response);
    assert_eq!(
        keys(&serde_json::to_value(&params).unwrap()),
        ["authuser", "code", "hd", "prompt", "scope", "state"]
    );
    assert_eq!(params["state"], auth.state);
    assert!(params["code"].starts_with("4/0A"));
    assert_eq!(params["authuser"], "0");
    assert_eq!(
        params["hd"], WORKSPACE_HD,
        "Workspace accounts come back with hd"
    );
    assert_eq!(params["prompt"], "none");
    assert_eq!(
        params["scope"],
        "email profile https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid"
    );

    let consumer = location_params(&pick(&google, &Auth::demo(), CONSUMER_EMAIL).await);
    assert!(!consumer.contains_key("hd"), "consumer accounts have no hd");
    let consented = Auth::demo().with("prompt", "consent select_account");
    let params = location_params(&pick(&google, &consented, CONSUMER_EMAIL).await);
    assert_eq!(params["prompt"], "consent");

    // A picker page is good for one answer.
    let again = post_picker(&google, &html, &[("account", WORKSPACE_SUB)]).await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn login_hint_puts_the_account_first_and_auto_select_skips_the_picker() {
    let google = start().await;
    let hinted = Auth::demo().with("login_hint", UNVERIFIED_EMAIL);
    let html = picker_page(&google, &hinted).await;
    let first = [WORKSPACE_EMAIL, CONSUMER_EMAIL, UNVERIFIED_EMAIL]
        .into_iter()
        .min_by_key(|e| html.find(e).unwrap())
        .unwrap();
    assert_eq!(first, UNVERIFIED_EMAIL, "the hinted account comes first");
    assert!(html.contains("class=\"hinted\""));

    let auto = GoogleEmulator::builder()
        .auto_select(true)
        .start()
        .await
        .unwrap();
    let response = client()
        .get(Auth::demo().with("login_hint", CONSUMER_EMAIL).url(&auto))
        .send()
        .await
        .unwrap();
    let params = location_params(&response);
    assert!(
        params["code"].starts_with("4/"),
        "no picker with a known hint"
    );
    // Without a hint the picker shows, unless a default account is set.
    picker_page(&auto, &Auth::demo()).await;
    auto.set_auto_select_account(Some(WORKSPACE_EMAIL));
    let response = get(&Auth::demo().url(&auto)).await;
    assert_eq!(location_params(&response)["hd"], WORKSPACE_HD);
    // A hint may also be the sub.
    let by_sub = get(&Auth::demo().with("login_hint", UNVERIFIED_SUB).url(&auto)).await;
    let params = location_params(&by_sub);
    assert!(
        params.contains_key("code") && !params.contains_key("hd"),
        "Uma, not Dana"
    );
    // An unknown hint still shows the picker.
    picker_page(&auto, &Auth::demo().with("login_hint", "nobody@acme.test")).await;
    auto.set_auto_select(false);
    picker_page(&auto, &Auth::demo().with("login_hint", CONSUMER_EMAIL)).await;
}

#[tokio::test]
async fn the_hd_parameter_narrows_the_picker_but_never_changes_the_token() {
    let google = start().await;
    let auth = Auth::demo().with("hd", WORKSPACE_HD);
    let html = picker_page(&google, &auth).await;
    assert!(html.contains(WORKSPACE_EMAIL));
    assert!(
        !html.contains(CONSUMER_EMAIL),
        "the picker is narrowed to acme.test"
    );
    assert_eq!(
        google.last_authorize_params().unwrap().get("hd"),
        Some(WORKSPACE_HD),
        "what the client sent is there for tests"
    );
    // The page is the browser's: a consumer account can still be posted back…
    let response = post_picker(&google, &html, &[("account", CONSUMER_SUB)]).await;
    let params = location_params(&response);
    assert!(!params.contains_key("hd"));
    let body = redeem(&google, &auth, &params["code"], &[]).await;
    let claims = decode(
        body.json::<Value>().await.unwrap()["id_token"]
            .as_str()
            .unwrap(),
    )
    .1;
    // …and its token says the truth: no hd.
    assert_eq!(claims["email"], CONSUMER_EMAIL);
    assert!(
        claims.get("hd").is_none(),
        "hd comes from the account, never the request"
    );

    // A Workspace account keeps its own hd whatever the request says.
    let spoof = Auth::demo().with("hd", "evil.test");
    let claims = id_claims(&google, &spoof, WORKSPACE_EMAIL).await;
    assert_eq!(claims["hd"], WORKSPACE_HD);

    // hd=* narrows to Workspace accounts.
    let html = picker_page(&google, &Auth::demo().with("hd", "*")).await;
    assert!(html.contains(WORKSPACE_EMAIL) && !html.contains(UNVERIFIED_EMAIL));
    // A domain nobody is in narrows to nothing, so everyone is listed.
    let html = picker_page(&google, &Auth::demo().with("hd", "nobody.test")).await;
    assert!(html.contains(CONSUMER_EMAIL));
}

/// The errors that do go back to the app: the user cancelled, or `prompt=none` needed a page.
#[tokio::test]
async fn cancel_and_prompt_none_are_the_errors_redirected_to_the_app() {
    let google = start().await;
    let cancelled = Auth::demo();
    let html = picker_page(&google, &cancelled).await;
    let silent = Auth::demo().with("prompt", "none");
    let answers = [
        (
            &cancelled,
            post_picker(&google, &html, &[("cancel", "1")]).await,
            "access_denied",
        ),
        (
            &silent,
            get(&silent.url(&google)).await,
            "interaction_required",
        ),
    ];
    for (auth, response, error) in answers {
        assert!(location(&response).starts_with(DEMO_REDIRECT_URI));
        let params = location_params(&response);
        assert_eq!(
            (params.get("error").map(String::as_str), params.get("state")),
            (Some(error), Some(&auth.state))
        );
        assert!(!params.contains_key("code"));
    }
}

/// An error page: the status, no redirect, and the "Error NNN: error" line.
async fn assert_error_page(response: reqwest::Response, status: u16, error: &str) -> String {
    assert_eq!(response.status(), status);
    assert!(
        response.headers().get("location").is_none(),
        "never redirected"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("Error {status}: {error}")), "{html}");
    html
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_googles_page_never_a_redirect() {
    let google = start().await;
    for uri in [
        "https://evil.example/auth/google/callback",
        // Exact match: another port, a trailing slash or another case are other URIs.
        "http://acme.localhost:8081/auth/google/callback",
        "http://acme.localhost:8080/auth/google/callback/",
        "http://acme.localhost:8080/auth/Google/callback",
        "http://acme.localhost:8080/auth/google/callback?x=1",
    ] {
        let auth = Auth::demo().with("redirect_uri", uri);
        let response = get(&auth.url(&google)).await;
        let html = assert_error_page(response, 400, "redirect_uri_mismatch").await;
        assert!(html.contains("Access blocked: This app’s request is invalid"));
        assert!(html.contains("doesn’t comply with Google’s OAuth 2.0 policy"));
        let escaped = uri.replace('&', "&amp;");
        assert!(
            html.contains(&format!("Request details: redirect_uri={escaped}")),
            "{html}"
        );
    }
}

#[tokio::test]
async fn bad_authorize_requests_get_googles_error_pages() {
    let google = start().await;
    let page = |auth: Auth| {
        let url = auth.url(&google);
        async move { get(&url).await }
    };
    let html = assert_error_page(
        page(Auth::demo().with("client_id", "1-unknown.apps.googleusercontent.com")).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(html.contains("Access blocked: Authorization Error"));
    assert!(html.contains("The OAuth client was not found."));

    let cases = [
        ("client_id", "", "Missing required parameter: client_id"),
        (
            "redirect_uri",
            "",
            "Missing required parameter: redirect_uri",
        ),
        (
            "response_type",
            "",
            "Missing required parameter: response_type",
        ),
        ("scope", "", "Missing required parameter: scope"),
        (
            "prompt",
            "login",
            "Invalid parameter value for prompt: Invalid prompt: login",
        ),
        (
            "code_challenge_method",
            "S512",
            "Invalid code_challenge_method value.",
        ),
        ("code_challenge", "short", "Invalid code_challenge value."),
    ];
    for (name, value, message) in cases {
        let html = assert_error_page(
            page(Auth::demo().with(name, value)).await,
            400,
            "invalid_request",
        )
        .await;
        assert!(html.contains(message), "{name}={value}: {html}");
    }
    let html = assert_error_page(
        page(Auth::demo().with("scope", "openid https://mail.google.com/")).await,
        400,
        "invalid_scope",
    )
    .await;
    assert!(
        html.contains("Some requested scopes were invalid. {invalid=[https://mail.google.com/]}")
    );
    assert_error_page(
        page(Auth::demo().with("response_type", "token")).await,
        400,
        "unsupported_response_type",
    )
    .await;
    // Values are escaped on the page.
    let html = assert_error_page(
        page(Auth::demo().with("redirect_uri", "https://x.test/<script>")).await,
        400,
        "redirect_uri_mismatch",
    )
    .await;
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
}

// ---------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_token_response_has_googles_fields_and_no_store_headers() {
    let google = start().await;
    let auth = Auth::demo();
    let code = code(&google, &auth, WORKSPACE_EMAIL).await;
    let response = redeem(&google, &auth, &code, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cache-control"),
        "no-cache, no-store, max-age=0, must-revalidate"
    );
    assert_eq!(header(&response, "pragma"), "no-cache");
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "expires_in",
            "id_token",
            "scope",
            "token_type"
        ]
    );
    let order: Vec<usize> = [
        "access_token",
        "expires_in",
        "scope",
        "token_type",
        "id_token",
    ]
    .iter()
    .map(|f| text.find(&format!("\"{f}\"")).unwrap())
    .collect();
    assert!(order.is_sorted(), "Google's field order: {text}");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"],
        "https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid"
    );
}

#[tokio::test]
async fn client_secret_basic_works_like_client_secret_post() {
    let google = start().await;
    let auth = Auth::demo();
    let code = code(&google, &auth, WORKSPACE_EMAIL).await;
    let response = client()
        .post(format!("{}/token", google.issuer()))
        .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
        .form(&[
            ("code", code.as_str()),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("grant_type", "authorization_code"),
            ("code_verifier", auth.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let wrong = client()
        .post(format!("{}/token", google.issuer()))
        .basic_auth(DEMO_CLIENT_ID, Some("GOCSPX-wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "4/0Ax")])
        .send()
        .await
        .unwrap();
    assert_token_error(wrong, 401, "invalid_client", "Unauthorized").await;
}

async fn assert_token_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
    description: &str,
) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), ["error", "error_description"], "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_description"], description, "{body}");
}

#[tokio::test]
async fn client_errors_are_googles_json() {
    let google = start().await;
    let auth = Auth::demo();
    let code = code(&google, &auth, WORKSPACE_EMAIL).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str, &'a str);
    let cases: [Case; 5] = [
        (
            &[("client_id", ""), ("client_secret", "")],
            400,
            "invalid_request",
            "Could not determine client ID from request.",
        ),
        (
            &[("client_id", "1-nope.apps.googleusercontent.com")],
            401,
            "invalid_client",
            "The OAuth client was not found.",
        ),
        (
            &[("client_secret", "GOCSPX-wrong")],
            401,
            "invalid_client",
            "Unauthorized",
        ),
        (
            &[("client_secret", "")],
            401,
            "invalid_client",
            "Unauthorized",
        ),
        (
            &[("grant_type", "password")],
            400,
            "unsupported_grant_type",
            "Invalid grant_type: password",
        ),
    ];
    for (overrides, status, error, description) in cases {
        assert_token_error(
            redeem(&google, &auth, &code, overrides).await,
            status,
            error,
            description,
        )
        .await;
    }
    // None of that used the code up.
    assert_eq!(redeem(&google, &auth, &code, &[]).await.status(), 200);
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound_to_client_and_redirect_uri() {
    let google = GoogleEmulator::builder()
        .directory(with_other_client())
        .start()
        .await
        .unwrap();
    let auth = Auth::demo();

    let code_ = code(&google, &auth, WORKSPACE_EMAIL).await;
    assert_token_error(
        redeem(
            &google,
            &auth,
            &code_,
            &[("redirect_uri", "http://acme.localhost:8080/other")],
        )
        .await,
        400,
        "redirect_uri_mismatch",
        "Bad Request",
    )
    .await;
    assert_token_error(
        redeem(&google, &auth, &code_, &[("redirect_uri", "")]).await,
        400,
        "redirect_uri_mismatch",
        "Bad Request",
    )
    .await;
    let mut other = auth.clone();
    other.client_id = OTHER_CLIENT_ID.to_owned();
    assert_token_error(
        redeem(&google, &other, &code_, &[]).await,
        400,
        "invalid_grant",
        "Bad Request",
    )
    .await;
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 200);
    assert_token_error(
        redeem(&google, &auth, &code_, &[]).await,
        400,
        "invalid_grant",
        "Bad Request",
    )
    .await;

    let late = code(&google, &auth, WORKSPACE_EMAIL).await;
    google.advance_clock(Duration::from_secs(10 * 60 + 1));
    assert_token_error(
        redeem(&google, &auth, &late, &[]).await,
        400,
        "invalid_grant",
        "Bad Request",
    )
    .await;

    assert_token_error(
        redeem(&google, &auth, "4/0Anever-issued", &[]).await,
        400,
        "invalid_grant",
        "Bad Request",
    )
    .await;
    assert_token_error(
        redeem(&google, &auth, "not-a-google-code", &[]).await,
        400,
        "invalid_grant",
        "Malformed auth code.",
    )
    .await;
    assert_token_error(
        redeem(&google, &auth, "", &[]).await,
        400,
        "invalid_request",
        "Missing required parameter: code",
    )
    .await;
}

#[tokio::test]
async fn pkce_s256_and_plain_are_checked_with_googles_errors() {
    let google = start().await;
    let auth = Auth::demo();
    let code_ = code(&google, &auth, WORKSPACE_EMAIL).await;
    assert_token_error(
        redeem(&google, &auth, &code_, &[("code_verifier", "")]).await,
        400,
        "invalid_grant",
        "Missing code verifier.",
    )
    .await;
    assert_token_error(
        redeem(
            &google,
            &auth,
            &code_,
            &[("code_verifier", &format!("{}x", auth.verifier))],
        )
        .await,
        400,
        "invalid_grant",
        "Invalid code verifier.",
    )
    .await;
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 200);

    let verifier = "plain-verifier-plain-verifier-plain-verifier-0123";
    let plain = Auth::demo()
        .with("code_challenge", verifier)
        .with("code_challenge_method", "plain");
    let code_ = code(&google, &plain, WORKSPACE_EMAIL).await;
    assert_eq!(
        redeem(&google, &plain, &code_, &[("code_verifier", verifier)])
            .await
            .status(),
        200
    );
    // Without a method, the challenge is plain (RFC 7636).
    let default = Auth::demo()
        .with("code_challenge", verifier)
        .with("code_challenge_method", "");
    let code_ = code(&google, &default, WORKSPACE_EMAIL).await;
    assert_eq!(
        redeem(&google, &default, &code_, &[("code_verifier", verifier)])
            .await
            .status(),
        200
    );

    let without = Auth::demo()
        .with("code_challenge", "")
        .with("code_challenge_method", "");
    let code_ = code(&google, &without, WORKSPACE_EMAIL).await;
    assert_token_error(
        redeem(&google, &without, &code_, &[]).await,
        400,
        "invalid_grant",
        "code_verifier or verifier is not needed.",
    )
    .await;
    assert_eq!(
        redeem(&google, &without, &code_, &[("code_verifier", "")])
            .await
            .status(),
        200,
        "PKCE is optional for a confidential client"
    );
}

// ---------------------------------------------------------------------------------------
// ID token
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_workspace_accounts_id_token_verifies_and_carries_googles_claims() {
    let google = start().await;
    let auth = Auth::demo();
    let body = tokens(&google, &auth, WORKSPACE_EMAIL).await;
    let token = body["id_token"].as_str().unwrap();
    let (header_, _) = decode(token);
    assert_eq!(keys(&header_), ["alg", "kid", "typ"]);
    assert_eq!(header_["alg"], "RS256");
    assert_eq!(header_["typ"], "JWT");
    assert_eq!(header_["kid"], google.active_signing_kid());

    let claims = verify(token, &jwks(&google).await, &google.issuer()).expect("verifies");
    assert_eq!(
        keys(&claims),
        [
            "at_hash",
            "aud",
            "azp",
            "email",
            "email_verified",
            "exp",
            "family_name",
            "given_name",
            "hd",
            "iat",
            "iss",
            "name",
            "nonce",
            "picture",
            "sub"
        ]
    );
    assert_eq!(claims["iss"], google.issuer());
    assert_eq!(claims["aud"], DEMO_CLIENT_ID);
    assert_eq!(claims["azp"], DEMO_CLIENT_ID);
    assert_eq!(claims["sub"], WORKSPACE_SUB);
    let sub = claims["sub"].as_str().unwrap();
    assert!(sub.len() <= 21 && sub.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(claims["hd"], WORKSPACE_HD);
    assert_eq!(claims["email"], WORKSPACE_EMAIL);
    assert_eq!(
        claims["email_verified"],
        Value::Bool(true),
        "a JSON boolean"
    );
    assert_eq!(claims["nonce"], auth.nonce);
    assert_eq!(claims["name"], "Dana Scully");
    assert_eq!(claims["given_name"], "Dana");
    assert_eq!(claims["family_name"], "Scully");
    assert!(claims["picture"].as_str().unwrap().starts_with("https://"));
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600, "one hour");
    assert!((iat - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 60);
    // at_hash: base64url of the left half of SHA-256(access_token).
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body["access_token"].as_str().unwrap().as_bytes());
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    assert_eq!(claims["at_hash"], expected);
    // Google's order, iss first and exp last.
    let payload = token.split('.').nth(1).unwrap();
    let raw = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert!(
        raw.starts_with("{\"iss\":\"") && raw.ends_with(&format!("\"exp\":{}}}", iat + 3600)),
        "{raw}"
    );
}

#[tokio::test]
async fn hd_only_for_workspace_accounts_and_email_verified_as_the_account_says() {
    let google = start().await;
    let consumer = id_claims(&google, &Auth::demo(), CONSUMER_EMAIL).await;
    assert_eq!(consumer["sub"], CONSUMER_SUB);
    assert!(consumer.get("hd").is_none());
    assert_eq!(consumer["email_verified"], Value::Bool(true));
    let unverified = id_claims(&google, &Auth::demo(), UNVERIFIED_EMAIL).await;
    assert_eq!(unverified["email"], UNVERIFIED_EMAIL);
    assert_eq!(unverified["email_verified"], Value::Bool(false));
    assert!(
        unverified.get("hd").is_none(),
        "same domain, but not a Workspace account"
    );
}

#[tokio::test]
async fn scopes_decide_which_claims_appear_and_the_legacy_issuer_is_available() {
    let google = start().await;
    let mut auth = Auth::demo();
    auth.scope = "openid".to_owned();
    let claims = id_claims(&google, &auth, WORKSPACE_EMAIL).await;
    assert_eq!(
        keys(&claims),
        [
            "at_hash", "aud", "azp", "exp", "hd", "iat", "iss", "nonce", "sub"
        ]
    );
    auth.scope = "openid email".to_owned();
    let claims = id_claims(&google, &auth, CONSUMER_EMAIL).await;
    assert!(claims.get("email").is_some() && claims.get("name").is_none());
    auth.scope = "email".to_owned();
    let body = tokens(&google, &auth, CONSUMER_EMAIL).await;
    assert!(body.get("id_token").is_none(), "no openid, no ID token");

    google.set_legacy_issuer(true);
    let claims = id_claims(&google, &Auth::demo(), WORKSPACE_EMAIL).await;
    let bare = google.issuer().trim_start_matches("http://").to_owned();
    assert_eq!(claims["iss"], bare, "like accounts.google.com");
    let doc = get_json(&google.discovery_url()).await;
    assert_eq!(doc["issuer"], bare);
}

#[tokio::test]
async fn the_clock_can_start_anywhere_and_be_advanced() {
    let start_at = time::macros::datetime!(2031-05-17 09:00 UTC);
    let google = GoogleEmulator::builder()
        .clock(start_at)
        .expect("a reasonable time")
        .start()
        .await
        .unwrap();
    let claims = id_claims(&google, &Auth::demo(), WORKSPACE_EMAIL).await;
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - start_at.unix_timestamp()).abs() < 60, "{iat}");
    google.advance_clock(Duration::from_secs(3600));
    assert!(google.now() > start_at + time::Duration::minutes(59));
    assert!(
        GoogleEmulator::builder()
            .clock(time::macros::datetime!(1969-12-31 23:00 UTC))
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Userinfo and revocation
// ---------------------------------------------------------------------------------------

async fn userinfo(google: &GoogleHandle, token: &str) -> reqwest::Response {
    client()
        .get(format!("{}/v1/userinfo", google.issuer()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_credentials(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "www-authenticate"),
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
    );
    assert_token_error(response, 401, "invalid_request", "Invalid Credentials").await;
}

#[tokio::test]
async fn userinfo_answers_for_the_access_token_and_refuses_anything_else() {
    let google = start().await;
    let body = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await;
    let access = body["access_token"].as_str().unwrap();
    let response = userinfo(&google, access).await;
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&info),
        [
            "email",
            "email_verified",
            "family_name",
            "given_name",
            "hd",
            "name",
            "picture",
            "sub"
        ]
    );
    assert_eq!(info["sub"], WORKSPACE_SUB);
    assert_eq!(info["email"], WORKSPACE_EMAIL);
    assert_eq!(info["email_verified"], Value::Bool(true));
    assert_eq!(info["hd"], WORKSPACE_HD);
    assert_eq!(info["name"], "Dana Scully");

    let consumer = tokens(&google, &Auth::demo(), CONSUMER_EMAIL).await;
    let info: Value = userinfo(&google, consumer["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(info.get("hd").is_none());

    // The ID token is not an access token; nor is garbage; nor is nothing.
    assert_invalid_credentials(userinfo(&google, body["id_token"].as_str().unwrap()).await).await;
    assert_invalid_credentials(userinfo(&google, "ya29.nonsense").await).await;
    let bare = client()
        .get(format!("{}/v1/userinfo", google.issuer()))
        .send()
        .await
        .unwrap();
    assert_invalid_credentials(bare).await;

    // Expired after an hour; revoked at once.
    let revoked = client()
        .post(format!("{}/revoke", google.issuer()))
        .form(&[("token", consumer["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_invalid_credentials(userinfo(&google, consumer["access_token"].as_str().unwrap()).await)
        .await;
    google.advance_clock(Duration::from_secs(3600));
    assert_invalid_credentials(userinfo(&google, access).await).await;
}

// ---------------------------------------------------------------------------------------
// Misbehaviours
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn each_id_token_misbehaviour_bends_exactly_what_it_names() {
    let google = GoogleEmulator::builder()
        .directory(with_other_client())
        .start()
        .await
        .unwrap();
    let now = || time::OffsetDateTime::now_utc().unix_timestamp();
    type Check = fn(&Value, &Auth) -> bool;
    let cases: Vec<(GoogleMisbehaviour, &str, Check)> = vec![
        (GoogleMisbehaviour::WrongIssuer, WORKSPACE_EMAIL, |c, _| {
            c["iss"] == "https://accounts.google.com.evil.test"
        }),
        (
            GoogleMisbehaviour::TokenForAnotherClient,
            WORKSPACE_EMAIL,
            |c, _| c["aud"] == OTHER_CLIENT_ID && c["azp"] == OTHER_CLIENT_ID,
        ),
        (
            GoogleMisbehaviour::EmailVerifiedFalse,
            WORKSPACE_EMAIL,
            |c, _| c["email_verified"] == Value::Bool(false),
        ),
        (
            GoogleMisbehaviour::EmailVerifiedMissing,
            WORKSPACE_EMAIL,
            |c, _| c.get("email_verified").is_none() && c["email"] == WORKSPACE_EMAIL,
        ),
        (
            GoogleMisbehaviour::EmailVerifiedString,
            UNVERIFIED_EMAIL,
            |c, _| c["email_verified"] == "true",
        ),
        (GoogleMisbehaviour::WrongNonce, WORKSPACE_EMAIL, |c, a| {
            c["nonce"].is_string() && c["nonce"] != a.nonce.as_str()
        }),
        (GoogleMisbehaviour::MissingNonce, WORKSPACE_EMAIL, |c, _| {
            c.get("nonce").is_none()
        }),
        (GoogleMisbehaviour::HdFromRequest, CONSUMER_EMAIL, |c, _| {
            c["hd"] == "spoofed.test"
        }),
    ];
    for (misbehaviour, email, check) in cases {
        google.set_misbehaviour(DEMO_CLIENT_ID, misbehaviour);
        let auth = Auth::demo().with("hd", "spoofed.test");
        let claims = id_claims(&google, &auth, email).await;
        assert!(check(&claims, &auth), "{misbehaviour:?}: {claims}");
        google.clear_misbehaviour(DEMO_CLIENT_ID);
        let honest = id_claims(&google, &auth, email).await;
        assert!(!check(&honest, &auth), "{misbehaviour:?} cleared: {honest}");
    }

    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::Expired);
    let claims = id_claims(&google, &Auth::demo(), WORKSPACE_EMAIL).await;
    assert!(claims["exp"].as_i64().unwrap() < now());
    google.clear_misbehaviour(DEMO_CLIENT_ID);

    // Switches are per client.
    google.set_misbehaviour(OTHER_CLIENT_ID, GoogleMisbehaviour::WrongIssuer);
    assert_eq!(
        id_claims(&google, &Auth::demo(), WORKSPACE_EMAIL).await["iss"],
        google.issuer()
    );
    google.set_global_misbehaviour(GoogleMisbehaviour::WrongIssuer);
    assert_ne!(
        id_claims(&google, &Auth::demo(), WORKSPACE_EMAIL).await["iss"],
        google.issuer()
    );
    google.clear_global_misbehaviours();
}

#[tokio::test]
async fn misbehaving_userinfo_agrees_with_the_misbehaving_id_token() {
    let google = start().await;
    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::EmailVerifiedString);
    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::HdFromRequest);
    let auth = Auth::demo().with("hd", "spoofed.test");
    let body = tokens(&google, &auth, CONSUMER_EMAIL).await;
    let info: Value = userinfo(&google, body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["email_verified"], "true");
    assert_eq!(info["hd"], "spoofed.test");
}

#[tokio::test]
async fn signature_misbehaviours_fail_verification_against_the_jwks() {
    let google = start().await;
    let keys_ = jwks(&google).await;

    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::BadSignature);
    let token = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        decode(&token).0["kid"],
        google.active_signing_kid(),
        "a known kid"
    );
    let error = verify(&token, &keys_, &google.issuer()).unwrap_err();
    assert!(error.contains("InvalidSignature"), "{error}");
    google.clear_misbehaviour(DEMO_CLIENT_ID);

    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::UnknownKid);
    let token = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let kid = decode(&token).0["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid.len(), 40);
    assert!(!google.published_kids().contains(&kid));
    let error = verify(&token, &jwks(&google).await, &google.issuer()).unwrap_err();
    assert!(error.contains("not in the JWKS"), "{error}");
    google.clear_misbehaviour(DEMO_CLIENT_ID);

    let token = tokens(&google, &Auth::demo(), WORKSPACE_EMAIL).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    verify(&token, &keys_, &google.issuer()).expect("honest again");
}

#[tokio::test]
async fn a_broken_idp_can_accept_replayed_codes_and_fail_or_stall_its_token_endpoint() {
    let google = start().await;
    let auth = Auth::demo();
    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::AcceptReplayedCode);
    let code_ = code(&google, &auth, WORKSPACE_EMAIL).await;
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 200);
    assert_eq!(
        redeem(&google, &auth, &code_, &[]).await.status(),
        200,
        "replayed"
    );
    google.clear_misbehaviour(DEMO_CLIENT_ID);
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 400);

    google.set_misbehaviour(DEMO_CLIENT_ID, GoogleMisbehaviour::TokenServerError);
    let code_ = code(&google, &auth, WORKSPACE_EMAIL).await;
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 500);
    google.clear_misbehaviour(DEMO_CLIENT_ID);
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 200);

    for endpoint in [
        GoogleEndpoint::Token,
        GoogleEndpoint::Jwks,
        GoogleEndpoint::Discovery,
    ] {
        google.set_delay(endpoint, Duration::from_millis(300));
    }
    let started = Instant::now();
    get_json(&google.discovery_url()).await;
    jwks(&google).await;
    assert!(started.elapsed() >= Duration::from_millis(600));
    let code_ = code(&google, &auth, WORKSPACE_EMAIL).await;
    let started = Instant::now();
    assert_eq!(redeem(&google, &auth, &code_, &[]).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    google.set_delay(GoogleEndpoint::Token, Duration::ZERO);
}

// ---------------------------------------------------------------------------------------
// Directory and config
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_demo_directory_has_one_account_per_case_and_google_shaped_ids() {
    let demo = GoogleDirectory::demo();
    demo.validate().unwrap();
    let id = DEMO_CLIENT_ID
        .strip_suffix(".apps.googleusercontent.com")
        .unwrap();
    let (project, rest) = id.split_once('-').unwrap();
    assert!(project.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(rest.len(), 32);
    assert!(
        rest.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert!(DEMO_CLIENT_SECRET.starts_with("GOCSPX-"));
    let dana = demo.account_by_email(WORKSPACE_EMAIL).unwrap();
    assert_eq!(
        (dana.hd.as_deref(), dana.email_verified),
        (Some(WORKSPACE_HD), true)
    );
    let casey = demo.account_by_email(CONSUMER_EMAIL).unwrap();
    assert_eq!((casey.hd.as_deref(), casey.email_verified), (None, true));
    let uma = demo.account_by_email(UNVERIFIED_EMAIL).unwrap();
    assert_eq!((uma.hd.as_deref(), uma.email_verified), (None, false));

    let uris = vec!["http://globex.localhost:8080/auth/google/callback".to_owned()];
    let directory = GoogleDirectory::demo_with_redirect_uris(&uris);
    let client_ = directory.client(DEMO_CLIENT_ID).unwrap();
    assert_eq!(client_.redirect_uris, [DEMO_REDIRECT_URI, uris[0].as_str()]);
    let refused = GoogleEmulator::builder()
        .directory(GoogleDirectory::demo_with_redirect_uris(&[
            "http://evil.test/cb".to_owned(),
        ]))
        .start()
        .await;
    let message = format!(
        "{:#}",
        refused.err().expect("http on a public host is refused")
    );
    assert!(message.contains("http://evil.test/cb"), "{message}");
}

#[tokio::test]
async fn the_directory_can_change_at_runtime_but_only_validly() {
    let google = start().await;
    google
        .update_directory(|d| {
            d.accounts.push(GoogleAccount::workspace(
                "101010101010101010101",
                "fox.mulder@acme.test",
                WORKSPACE_HD,
                "Fox Mulder",
            ))
        })
        .unwrap();
    let claims = id_claims(&google, &Auth::demo(), "fox.mulder@acme.test").await;
    assert_eq!(claims["hd"], WORKSPACE_HD);
    let refused = google.update_directory(|d| {
        d.account_by_email_mut(CONSUMER_EMAIL).unwrap().sub = WORKSPACE_SUB.to_owned();
    });
    assert!(refused.is_err());
    assert_eq!(
        google
            .directory()
            .account_by_email(CONSUMER_EMAIL)
            .unwrap()
            .sub,
        CONSUMER_SUB
    );
}

#[test]
fn the_example_config_parses_and_bad_configs_are_refused_with_a_reason() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/google.toml");
    let directory = GoogleDirectory::from_toml_file(&path).expect("the example config is valid");
    assert_eq!(directory.accounts.len(), 3);
    assert_eq!(directory.clients[0].redirect_uris.len(), 2);
    assert!(directory.accounts[0].is_workspace());

    let client_ = r#"
[[clients]]
client_id = "1-abc.apps.googleusercontent.com"
client_secret = "GOCSPX-x"
name = "App"
"#;
    let account = |fields: &str| format!("[[accounts]]\nemail = \"a@b.test\"\n{fields}\n{client_}");
    let cases = [
        (
            account("sub = \"12ab\""),
            "sub must be 1 to 21 decimal digits",
        ),
        (
            account("sub = \"1234567890123456789012\""),
            "sub must be 1 to 21 decimal digits",
        ),
        (
            account("sub = \"1\"\nhd = \"b.test\"\nemail_verified = false"),
            "a Workspace account (with hd) has a verified email",
        ),
        (
            account("sub = \"1\"\nhd = \"not a domain\""),
            "is not a domain name",
        ),
        (
            format!(
                "{}\n[[accounts]]\nsub = \"2\"\nemail = \"A@b.test\"",
                account("sub = \"1\"")
            ),
            "used twice",
        ),
        (
            account("sub = \"1\"\nfavourite_colour = \"blue\""),
            "unknown field",
        ),
        (
            "[[clients]]\nclient_id = \"my-app\"\nclient_secret = \"s\"\nname = \"A\"".to_owned(),
            "must end with .apps.googleusercontent.com",
        ),
        (
            format!("{client_}redirect_uris = [\"http://app.example/cb\"]"),
            "http is only allowed for localhost",
        ),
        (client_.replace("GOCSPX-x", ""), "empty client secret"),
    ];
    for (config, reason) in cases {
        let error = format!("{:#}", GoogleDirectory::from_toml_str(&config).unwrap_err());
        assert!(error.contains(reason), "{config}\n→ {error}");
    }
}

// ---------------------------------------------------------------------------------------
// Acceptance: a standard OIDC client
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_openidconnect_crate_signs_in_with_a_google_code_flow_and_pkce() {
    use crate::oidc_client::{begin, discover, finish, relying_party};
    use openidconnect::core::CoreTokenType;
    use openidconnect::{AuthType, OAuth2TokenResponse};

    let google = start().await;
    let metadata = discover(google.issuer()).await;
    for auth_type in [AuthType::RequestBody, AuthType::BasicAuth] {
        let rp = relying_party(
            &metadata,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            DEMO_REDIRECT_URI,
            auth_type,
        );
        let extra = [("hd", WORKSPACE_HD), ("prompt", "select_account")];
        let flow = begin(&rp, &["email", "profile"], &extra);
        let picker = get_text(&flow.url).await;
        let params =
            location_params(&post_picker(&google, &picker, &[("account", WORKSPACE_SUB)]).await);
        assert_eq!(&params["state"], flow.csrf.secret());
        assert_eq!(
            google
                .last_authorize_params()
                .unwrap()
                .get("code_challenge_method"),
            Some("S256")
        );

        let (tokens, claims) = finish(&rp, flow, params["code"].clone()).await;
        assert_eq!(*tokens.token_type(), CoreTokenType::Bearer);
        assert_eq!(claims.issuer().as_str(), google.issuer());
        assert_eq!(claims.subject().as_str(), WORKSPACE_SUB);
        assert_eq!(claims.email().map(|e| e.as_str()), Some(WORKSPACE_EMAIL));
        assert_eq!(claims.email_verified(), Some(true));
        assert!(claims.access_token_hash().is_some(), "checked by finish()");
    }
}
