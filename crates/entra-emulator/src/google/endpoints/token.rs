//! `POST /token` (spec §3): the authorization-code grant with `client_secret_post` or
//! `client_secret_basic`, PKCE, single-use codes, and Google's terse JSON errors.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{no_store, oauth_error};
use crate::endpoints::token::credentials;
use crate::google::misbehaviour::{GoogleEndpoint, GoogleMisbehaviour};
use crate::google::state::{CODE_LIFETIME, GoogleState, Request};
use crate::google::tokens::{TokenResponse, token_response};
use crate::util::{constant_time_eq, field, parse_form};

/// One of Google's token-endpoint errors.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn bad(error: &'static str, description: impl Into<String>) -> TokenError {
    TokenError {
        status: StatusCode::BAD_REQUEST,
        error,
        description: description.into(),
    }
}

fn unauthorized(description: &str) -> TokenError {
    TokenError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: description.to_owned(),
    }
}

/// A used, expired, unknown or someone else's code: Google says no more than this.
fn bad_code() -> TokenError {
    bad("invalid_grant", "Bad Request")
}

pub(crate) async fn token(
    State(state): State<GoogleState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.delay(GoogleEndpoint::Token).await;
    let pairs = parse_form(&body).unwrap_or_default();
    match redeem(&state, &headers, &pairs) {
        Ok(body) => no_store(StatusCode::OK, &body),
        Err(e) => oauth_error(e.status, e.error, &e.description),
    }
}

fn redeem(
    state: &GoogleState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<TokenResponse, TokenError> {
    let creds = credentials(headers, pairs);
    let Some(client_id) = creds.client_id.as_deref() else {
        return Err(bad(
            "invalid_request",
            "Could not determine client ID from request.",
        ));
    };
    if state.is_on(Some(client_id), GoogleMisbehaviour::TokenServerError) {
        return Err(TokenError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "internal_failure",
            description: "Backend Error".to_owned(),
        });
    }
    {
        let directory = state.directory.read();
        let Some(client) = directory.client(client_id) else {
            return Err(unauthorized("The OAuth client was not found."));
        };
        let secret = creds.secret.as_deref().unwrap_or_default();
        if !constant_time_eq(secret.as_bytes(), client.client_secret.as_bytes()) {
            return Err(unauthorized("Unauthorized"));
        }
    }
    let grant_type = field(pairs, "grant_type").unwrap_or_default();
    if grant_type != "authorization_code" {
        return Err(bad(
            "unsupported_grant_type",
            format!("Invalid grant_type: {grant_type}"),
        ));
    }
    let (request, sub) = redeem_code(state, client_id, pairs)?;
    token_response(state, &request, &sub).ok_or_else(bad_code)
}

/// Checks the code, its redirect URI and PKCE; marks it used only when all pass.
fn redeem_code(
    state: &GoogleState,
    client_id: &str,
    pairs: &[(String, String)],
) -> Result<(Request, String), TokenError> {
    let Some(code) = field(pairs, "code") else {
        return Err(bad("invalid_request", "Missing required parameter: code"));
    };
    if !code.starts_with("4/") {
        return Err(bad("invalid_grant", "Malformed auth code."));
    }
    let replay_ok = state.is_on(Some(client_id), GoogleMisbehaviour::AcceptReplayedCode);
    let now = state.now();
    let mut codes = state.codes.lock();
    let Some(grant) = codes.get_mut(code) else {
        return Err(bad_code());
    };
    let request = &grant.request;
    if request.client_id != client_id
        || (grant.redeemed && !replay_ok)
        || now - grant.issued > CODE_LIFETIME
    {
        return Err(bad_code());
    }
    if field(pairs, "redirect_uri") != Some(request.redirect_uri.as_str()) {
        return Err(bad("redirect_uri_mismatch", "Bad Request"));
    }
    let verifier = field(pairs, "code_verifier");
    match (&request.pkce, verifier) {
        (Some(_), None) => return Err(bad("invalid_grant", "Missing code verifier.")),
        (Some(pkce), Some(verifier)) if !pkce.verify(verifier) => {
            return Err(bad("invalid_grant", "Invalid code verifier."));
        }
        (None, Some(_)) => {
            return Err(bad(
                "invalid_grant",
                "code_verifier or verifier is not needed.",
            ));
        }
        _ => {}
    }
    grant.redeemed = true;
    Ok((grant.request.clone(), grant.sub.clone()))
}
