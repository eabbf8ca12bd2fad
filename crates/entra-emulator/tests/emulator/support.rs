//! Helpers shared by the emulator's integration tests: a client that never follows redirects,
//! a scripted browser for the account picker, and JWT decoding.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_emulator::demo::*;
use entra_emulator::{Emulator, EmulatorHandle};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const REDIRECT: &str = DEMO_REDIRECT_URI;

pub async fn start() -> EmulatorHandle {
    Emulator::builder().start().await.expect("emulator starts")
}

/// GET `url` without following redirects.
pub async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

pub async fn get_json(url: &str) -> Value {
    get(url).await.json().await.unwrap()
}

pub async fn get_text(url: &str) -> String {
    get(url).await.text().await.unwrap()
}

/// A response header as text (`""` when absent).
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The JWKS key `kid`, as a key jsonwebtoken verifies RS256 with.
pub fn rsa_key(jwks: &Value, kid: &str) -> Option<jsonwebtoken::DecodingKey> {
    let key = jwks["keys"].as_array()?.iter().find(|k| k["kid"] == kid)?;
    jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str()?, key["e"].as_str()?).ok()
}

/// A query string of `params`, each of `extra` replacing the parameter of the same name (an
/// empty value removes it).
pub fn query(mut params: Vec<(String, String)>, extra: &[(String, String)]) -> String {
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k.clone(), v.clone()));
        }
    }
    serde_urlencoded::to_string(&params).unwrap()
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The parameters of one authorize request; `params()` adds the usual ones.
#[derive(Clone)]
pub struct Authorize {
    pub tenant: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub challenge: String,
    pub extra: Vec<(String, String)>,
}

impl Authorize {
    pub fn new(tenant: &str, client_id: &str) -> Self {
        let (verifier, challenge) = pkce();
        Authorize {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: REDIRECT.to_owned(),
            scope: "openid profile email User.Read".to_owned(),
            state: format!("state-{}", uuid::Uuid::new_v4()),
            nonce: format!("nonce-{}", uuid::Uuid::new_v4()),
            verifier,
            challenge,
            extra: Vec::new(),
        }
    }

    pub fn acme() -> Self {
        Authorize::new(ACME_TENANT_ID, DEMO_CLIENT_ID)
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.extra.retain(|(k, _)| k != name);
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn url(&self, emu: &EmulatorHandle) -> String {
        let params: Vec<(String, String)> = vec![
            ("client_id".into(), self.client_id.clone()),
            ("response_type".into(), "code".into()),
            ("redirect_uri".into(), self.redirect_uri.clone()),
            ("response_mode".into(), "query".into()),
            ("scope".into(), self.scope.clone()),
            ("state".into(), self.state.clone()),
            ("nonce".into(), self.nonce.clone()),
            ("code_challenge".into(), self.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        format!(
            "{}/{}/oauth2/v2.0/authorize?{}",
            emu.authority(),
            self.tenant,
            query(params, &self.extra)
        )
    }
}

/// The picker's opaque request id, read from its form.
pub fn picker_request_id(html: &str) -> String {
    entra_emulator::picker_request_id(html).expect("picker form carries a request id")
}

/// Opens the picker and picks `upn`, returning the emulator's answer to the pick.
pub async fn pick(emu: &EmulatorHandle, request: &Authorize, upn: &str) -> reqwest::Response {
    let http = client();
    let picker = http.get(request.url(emu)).send().await.unwrap();
    assert_eq!(picker.status(), 200, "the picker page is shown");
    let html = picker.text().await.unwrap();
    let id = picker_request_id(&html);
    http.post(format!(
        "{}/{}/oauth2/v2.0/authorize/select",
        emu.authority(),
        request.tenant
    ))
    .form(&[("request", id.as_str()), ("login_hint", upn)])
    .send()
    .await
    .unwrap()
}

/// Query parameters of a redirect's `Location`.
pub fn location_params(response: &reqwest::Response) -> HashMap<String, String> {
    let location = location(response);
    let url = url::Url::parse(&location).unwrap();
    url.query_pairs().into_owned().collect()
}

pub fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "expected a redirect");
    response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Signs `upn` in and returns the authorization code.
pub async fn code(emu: &EmulatorHandle, request: &Authorize, upn: &str) -> String {
    let response = pick(emu, request, upn).await;
    let params = location_params(&response);
    assert_eq!(params.get("state"), Some(&request.state));
    params.get("code").expect("a code in the redirect").clone()
}

pub fn secret_for(client_id: &str) -> &'static str {
    if client_id == DEMO_SINGLE_TENANT_CLIENT_ID {
        DEMO_SINGLE_TENANT_CLIENT_SECRET
    } else {
        DEMO_CLIENT_SECRET
    }
}

/// Redeems `code` with `client_secret_post`, overriding any form field with `overrides`.
pub async fn redeem(
    emu: &EmulatorHandle,
    request: &Authorize,
    code: &str,
    overrides: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = vec![
        ("client_id".into(), request.client_id.clone()),
        ("grant_type".into(), "authorization_code".into()),
        ("scope".into(), request.scope.clone()),
        ("code".into(), code.to_owned()),
        ("redirect_uri".into(), request.redirect_uri.clone()),
        ("code_verifier".into(), request.verifier.clone()),
        (
            "client_secret".into(),
            secret_for(&request.client_id).to_owned(),
        ),
    ];
    for (k, v) in overrides {
        form.retain(|(fk, _)| fk != k);
        if !v.is_empty() {
            form.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    client()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            emu.authority(),
            request.tenant
        ))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A full sign-in: the token response JSON.
pub async fn tokens(emu: &EmulatorHandle, request: &Authorize, upn: &str) -> Value {
    let code = code(emu, request, upn).await;
    let response = redeem(emu, request, &code, &[]).await;
    assert_eq!(response.status(), 200, "token redemption succeeds");
    response.json().await.unwrap()
}

/// Header and claims of a compact JWT, without verifying it.
pub fn decode(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    let header = part();
    let claims = part();
    (header, claims)
}

/// A signed-in user's ID token claims.
pub async fn id_claims(emu: &EmulatorHandle, request: &Authorize, upn: &str) -> Value {
    let body = tokens(emu, request, upn).await;
    decode(body["id_token"].as_str().unwrap()).1
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

pub fn is_guid(value: &str) -> bool {
    uuid::Uuid::parse_str(value).is_ok() && value.len() == 36
}

/// The `{code}` in an AADSTS error page, and that it is a page rather than a redirect.
pub async fn assert_error_page(response: reqwest::Response, code: u32) -> String {
    assert_eq!(
        response.status(),
        200,
        "Entra serves its error page with 200"
    );
    assert!(
        response.headers().get("location").is_none(),
        "never redirected to the app"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Sorry, but we're having trouble signing you in."),
        "{html}"
    );
    assert!(
        html.contains(&format!("AADSTS{code}: ")),
        "page names AADSTS{code}: {html}"
    );
    html
}
