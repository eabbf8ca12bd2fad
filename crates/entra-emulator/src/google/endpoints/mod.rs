//! The Google emulator's HTTP surface, on Google's paths (all on the emulator's one address):
//! discovery, JWKS, authorize (with the picker), token, userinfo and revocation.

mod authorize;
mod discovery;
mod token;
mod userinfo;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};

use super::state::GoogleState;

pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS_PATH: &str = "/oauth2/v3/certs";
pub(crate) const AUTHORIZE_PATH: &str = "/o/oauth2/v2/auth";
/// Where the picker posts the chosen account (the emulator's own path).
pub(crate) const SELECT_PATH: &str = "/o/oauth2/v2/auth/select";
pub(crate) const TOKEN_PATH: &str = "/token";
pub(crate) const USERINFO_PATH: &str = "/v1/userinfo";
pub(crate) const REVOKE_PATH: &str = "/revoke";

pub(crate) fn router(state: GoogleState) -> Router {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery::openid_configuration))
        .route(JWKS_PATH, get(discovery::certs))
        .route(AUTHORIZE_PATH, get(authorize::authorize))
        .route(SELECT_PATH, post(authorize::select))
        .route(TOKEN_PATH, post(token::token))
        .route(
            USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(REVOKE_PATH, post(userinfo::revoke))
        .with_state(state)
}

/// A JSON answer with `content_type` and `cache_control`.
fn json(
    status: StatusCode,
    body: &impl serde::Serialize,
    content_type: &'static str,
    cache_control: &'static str,
) -> Response {
    let mut response = crate::endpoints::json(status, body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    response
}

/// A JSON answer no one may cache: tokens, userinfo, errors.
fn no_store(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = json(
        status,
        body,
        "application/json; charset=utf-8",
        "no-cache, no-store, max-age=0, must-revalidate",
    );
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Google's OAuth error body: `{"error": …, "error_description": …}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    #[derive(serde::Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    let body = ErrorBody {
        error,
        error_description: description,
    };
    no_store(status, &body)
}
