//! `/v1/userinfo` (spec §5) and `/revoke` (§3.6).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::{no_store, oauth_error};
use crate::google::misbehaviour::GoogleEndpoint;
use crate::google::state::{GoogleState, Grant};
use crate::google::tokens::{email_verified, hd_claim, wants_email, wants_profile};
use crate::util::{field, parse_form};

/// The userinfo body, in Google's order; profile fields need `profile`, email fields `email`.
#[derive(Serialize)]
struct UserInfo {
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hd: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case("bearer ")
        .then(|| value[7..].trim())
        .filter(|t| !t.is_empty())
}

/// 401 with Google's body and `WWW-Authenticate` header.
fn invalid_credentials() -> Response {
    let mut response = oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request",
        "Invalid Credentials",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        ),
    );
    response
}

pub(crate) async fn userinfo(State(state): State<GoogleState>, headers: HeaderMap) -> Response {
    state.delay(GoogleEndpoint::Userinfo).await;
    let now = state.now();
    let grant: Option<Grant> = bearer(&headers)
        .and_then(|token| state.access_tokens.lock().get(token).cloned())
        .filter(|g| g.expires > now);
    let Some(grant) = grant else {
        return invalid_credentials();
    };
    let directory = state.directory.read();
    let Some(account) = directory.account(&grant.sub) else {
        return invalid_credentials();
    };
    let scopes = &grant.request.scopes;
    let profile = |value: &Option<String>| value.clone().filter(|_| wants_profile(scopes));
    let email = wants_email(scopes);
    let body = UserInfo {
        sub: account.sub.clone(),
        name: profile(&account.name),
        given_name: profile(&account.given_name),
        family_name: profile(&account.family_name),
        picture: profile(&account.picture),
        email: email.then(|| account.email.clone()),
        email_verified: if email {
            email_verified(&state, &grant.request.client_id, account.email_verified)
        } else {
            None
        },
        locale: profile(&account.locale),
        hd: hd_claim(&state, account, &grant.request),
    };
    no_store(StatusCode::OK, &body)
}

/// `POST /revoke` with `token=…`: forgets an access token.
pub(crate) async fn revoke(State(state): State<GoogleState>, body: Bytes) -> Response {
    let pairs = parse_form(&body).unwrap_or_default();
    let revoked = field(&pairs, "token").and_then(|t| state.access_tokens.lock().remove(t));
    match revoked {
        Some(_) => StatusCode::OK.into_response(),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        ),
    }
}
