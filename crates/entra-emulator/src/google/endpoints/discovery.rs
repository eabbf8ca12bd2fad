//! `/.well-known/openid-configuration` and the JWKS at `/oauth2/v3/certs` (spec §1, §6).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use time::macros::format_description;

use super::{AUTHORIZE_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH, USERINFO_PATH, json};
use crate::google::misbehaviour::GoogleEndpoint;
use crate::google::state::GoogleState;

/// Google's discovery document, field for field and in the order of the captured one.
#[derive(Serialize)]
struct OpenIdConfiguration {
    issuer: String,
    authorization_endpoint: String,
    device_authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    revocation_endpoint: String,
    jwks_uri: String,
    response_types_supported: [&'static str; 8],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    scopes_supported: [&'static str; 3],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    claims_supported: [&'static str; 11],
    code_challenge_methods_supported: [&'static str; 2],
    grant_types_supported: [&'static str; 4],
}

pub(crate) async fn openid_configuration(State(state): State<GoogleState>) -> Response {
    state.delay(GoogleEndpoint::Discovery).await;
    let base = &state.base_url;
    let document = OpenIdConfiguration {
        issuer: state.issuer(),
        authorization_endpoint: format!("{base}{AUTHORIZE_PATH}"),
        device_authorization_endpoint: format!("{base}/device/code"),
        token_endpoint: format!("{base}{TOKEN_PATH}"),
        userinfo_endpoint: format!("{base}{USERINFO_PATH}"),
        revocation_endpoint: format!("{base}{REVOKE_PATH}"),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        response_types_supported: [
            "code",
            "token",
            "id_token",
            "code token",
            "code id_token",
            "token id_token",
            "code token id_token",
            "none",
        ],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        scopes_supported: ["openid", "email", "profile"],
        token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
        claims_supported: [
            "aud",
            "email",
            "email_verified",
            "exp",
            "family_name",
            "given_name",
            "iat",
            "iss",
            "name",
            "picture",
            "sub",
        ],
        code_challenge_methods_supported: ["plain", "S256"],
        grant_types_supported: [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ],
    };
    let mut response = json(
        StatusCode::OK,
        &document,
        "application/json",
        "public, max-age=3600",
    );
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// One JWKS entry, as Google writes them: no `x5c`, no `x5t`, an `alg`.
#[derive(Serialize)]
struct Jwk {
    kty: &'static str,
    alg: &'static str,
    r#use: &'static str,
    kid: String,
    n: String,
    e: String,
}

#[derive(Serialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// How long clients may cache the JWKS: Google's header counts down to its next key change
/// (about six hours); the emulator always says six hours.
const JWKS_MAX_AGE_SECS: i64 = 21600;

pub(crate) async fn certs(State(state): State<GoogleState>) -> Response {
    state.delay(GoogleEndpoint::Jwks).await;
    let keys = state
        .keys
        .lock()
        .published()
        .map(|(key, ())| Jwk {
            kty: "RSA",
            alg: "RS256",
            r#use: "sig",
            kid: key.hex_kid.clone(),
            n: key.n.clone(),
            e: key.e.clone(),
        })
        .collect();
    let mut response = json(
        StatusCode::OK,
        &Jwks { keys },
        "application/json; charset=UTF-8",
        "public, max-age=21600, must-revalidate, no-transform",
    );
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::seconds(JWKS_MAX_AGE_SECS))
        .format(format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .ok()
        .and_then(|text| HeaderValue::from_str(&text).ok());
    if let Some(expires) = expires {
        response.headers_mut().insert(header::EXPIRES, expires);
    }
    response
}
