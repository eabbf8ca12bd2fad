//! The HTTP half every external provider's flow shares: the per-IP start limit, the flow
//! cookie's checks on the callback, the refusal page, and the audit rows of refusals
//! anyone could cause (coalesced, so nobody can flood the audit log).

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::{CookieJar, PrivateCookieJar};

use super::client::ClientInfo;
use super::{AppError, AppState};
use crate::audit::{self, Actor};
use crate::auth::oidc::flow::{self, CallbackParams, FlowState};
use crate::auth::sign_in::Provider;
use crate::domain::ReturnTo;
use crate::store::{self, workspaces::Workspace};

pub const SESSION_EXPIRED: &str = "Session expired. Please try again.";

#[derive(Template)]
#[template(path = "sign_in_error.html")]
pub struct ErrorPage {
    pub provider: &'static str,
    pub workspace_name: String,
    pub title: String,
    pub message: String,
    /// Microsoft's AADSTS code, with our words for it.
    pub code: Option<u32>,
    pub meaning: Option<&'static str>,
    pub fix: Option<&'static str>,
    /// What the provider's server (never the browser) said, for the admin.
    pub provider_text: Option<String>,
}

impl ErrorPage {
    pub fn plain(provider: Provider, ws: &Workspace, title: &str, message: &str) -> Self {
        Self {
            provider: provider.display_name(),
            workspace_name: ws.name.clone(),
            title: title.into(),
            message: message.into(),
            code: None,
            meaning: None,
            fix: None,
            provider_text: None,
        }
    }

    /// The page, with the flow cookie cleared: it is single-use whatever the outcome.
    pub fn respond(
        self,
        status: StatusCode,
        provider: Provider,
        jar: PrivateCookieJar,
        https: bool,
    ) -> Result<Response, AppError> {
        let jar = jar.add(flow::removal(provider, https));
        Ok((status, jar, Html(self.render()?)).into_response())
    }
}

/// Refuses a start beyond the client IP's share (all providers together).
pub fn check_start_limit(state: &AppState, client: &ClientInfo) -> Result<(), AppError> {
    let limiter = &state.flows.start_limiter;
    if let Ok(ip) = client.ip.parse::<std::net::IpAddr>()
        && let Err(not_until) = limiter.check_key(&ip)
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
        return Err(AppError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1) as i64,
        });
    }
    Ok(())
}

/// A new flow's authorization request, as the provider's start handler describes it.
pub struct AuthorizeRequest<'a> {
    pub provider: Provider,
    /// The provider's authorization endpoint (from its discovery document).
    pub endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    /// Parameters only this provider takes (Microsoft's `response_mode`).
    pub extra: &'a [(&'a str, &'a str)],
}

/// Starts a flow: its state, nonce and PKCE verifier in the provider's flow cookie, and
/// the redirect to the provider with the code flow's parameters (S256, and the account
/// picker so that a shared computer never signs in as whoever used it last). Nothing is
/// written to the database.
pub fn redirect_to_provider(
    state: &AppState,
    ws: &Workspace,
    return_to: Option<&str>,
    req: AuthorizeRequest<'_>,
    jar: PrivateCookieJar,
) -> Result<Response, AppError> {
    let return_to = return_to
        .and_then(ReturnTo::parse)
        .map(|r| r.as_str().to_string());
    let f = FlowState::new(ws.id.as_str(), return_to, store::now());
    let challenge = f.challenge();
    let mut params = vec![
        ("client_id", req.client_id),
        ("response_type", "code"),
        ("redirect_uri", req.redirect_uri),
        ("scope", req.scope),
        ("state", f.s.as_str()),
        ("nonce", f.n.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("prompt", "select_account"),
    ];
    params.extend_from_slice(req.extra);
    let query =
        serde_urlencoded::to_string(params).map_err(|e| anyhow::anyhow!("authorize URL: {e}"))?;
    let url = format!("{}?{query}", req.endpoint);
    let jar = jar.add(f.cookie(req.provider, state.https()));
    Ok((StatusCode::FOUND, jar, [(header::LOCATION, url)]).into_response())
}

/// Refusals of callbacks that anyone can send (no valid flow, or a flow cookie replayed).
#[derive(Clone, Copy)]
pub enum Unauthenticated {
    Malformed,
    NoFlow,
    NoCode,
    ProviderError,
}

impl Unauthenticated {
    /// The coalescer's key: per provider, so one provider's noise never hides another's.
    fn kind(self, provider: Provider) -> &'static str {
        match (provider, self) {
            (Provider::Microsoft, Self::Malformed) => "microsoft: malformed callback",
            (Provider::Microsoft, Self::NoFlow) => "microsoft: no matching sign-in flow",
            (Provider::Microsoft, Self::NoCode) => "microsoft: callback without a code",
            (Provider::Microsoft, Self::ProviderError) => "microsoft: error from Microsoft",
            (Provider::Google, Self::Malformed) => "google: malformed callback",
            (Provider::Google, Self::NoFlow) => "google: no matching sign-in flow",
            (Provider::Google, Self::NoCode) => "google: callback without a code",
            (Provider::Google, Self::ProviderError) => "google: error from Google",
            (Provider::Saml, Self::Malformed) => "saml: malformed response",
            (Provider::Saml, Self::NoFlow) => "saml: response to no sign-in flow",
            (Provider::Saml, Self::NoCode) => "saml: post without a response",
            (Provider::Saml, Self::ProviderError) => "saml: refused response",
        }
    }
}

/// A callback's parameters and the flow they answer — the flow must be this browser's, on
/// this workspace, recent, and answer our state — or `None` with the refusal written.
pub async fn accept_callback(
    state: &AppState,
    provider: Provider,
    ws: &Workspace,
    client: &ClientInfo,
    jar: &PrivateCookieJar,
    raw_query: Option<&str>,
) -> Result<Option<(FlowState, CallbackParams)>, AppError> {
    let flow_cookie = jar
        .get(flow::cookie_name(provider, state.https()))
        .and_then(|c| FlowState::from_cookie_value(c.value()));
    let Some(params) = CallbackParams::parse(raw_query) else {
        let reason = "malformed callback (repeated or oversized parameters)";
        let kind = Unauthenticated::Malformed;
        audit_unauthenticated(state, provider, ws, client, kind, reason, None).await?;
        return Ok(None);
    };
    match flow_cookie {
        Some(f)
            if !f.is_expired(store::now())
                && f.w == ws.id.as_str()
                && params.state.as_deref() == Some(f.s.as_str()) =>
        {
            Ok(Some((f, params)))
        }
        _ => {
            let reason = "missing, expired or mismatched sign-in state";
            let kind = Unauthenticated::NoFlow;
            audit_unauthenticated(state, provider, ws, client, kind, reason, None).await?;
            Ok(None)
        }
    }
}

/// OAuth's registered error codes (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6):
/// the only `error` values shown back as they came; anything else is "unrecognised".
const OAUTH_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    "invalid_client",
    "invalid_grant",
];

/// The registered OAuth error this is, if it is one (a visitor may have written it).
pub fn registered_oauth_error(error: &str) -> Option<&'static str> {
    OAUTH_ERRORS.iter().find(|e| **e == error).copied()
}

/// A refusal anyone could have caused: written only when the coalescer admits it, with
/// the number of similar ones it left out since the last row. `Ok(false)`: only counted.
pub async fn audit_unauthenticated(
    state: &AppState,
    provider: Provider,
    ws: &Workspace,
    client: &ClientInfo,
    kind: Unauthenticated,
    reason: &str,
    code: Option<u32>,
) -> Result<bool, AppError> {
    let Some(left_out) =
        state
            .flows
            .unauthenticated_refusals
            .admit(&ws.id, kind.kind(provider), store::now())
    else {
        return Ok(false);
    };
    let mut details = serde_json::json!({"reason": reason});
    if let Some(c) = code {
        details["aadsts"] = c.into();
    }
    if left_out > 0 {
        details["similar_refusals_not_logged"] = left_out.into();
    }
    write_refusal(state, provider, ws, client, "-", details).await?;
    Ok(true)
}

/// One `<Provider> sign-in refused` audit row.
pub async fn write_refusal(
    state: &AppState,
    provider: Provider,
    ws: &Workspace,
    client: &ClientInfo,
    target: &str,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let mut conn = state.db.pool().acquire().await?;
    audit::record(
        &mut conn,
        &ws.id,
        Actor::System(provider.system_actor()),
        provider.refused_action(),
        target,
        client.origin(),
        details,
    )
    .await?;
    Ok(())
}

/// A successful sign-in's answer, whichever the provider: its flow cookie removed, the
/// session cookie set, the new session kept for the landing page
/// (`session::remember_new`), and a 303 there.
pub fn signed_in(
    state: &AppState,
    provider: Provider,
    (jar, plain_jar): (PrivateCookieJar, CookieJar),
    token: &crate::crypto::SessionToken,
    landing: String,
    fresh: Option<crate::auth::sign_in::Fresh>,
) -> Response {
    super::session::remember_new(state, token, fresh);
    let https = state.https();
    let jar = jar.add(flow::removal(provider, https));
    let plain_jar = plain_jar.add(crate::auth::session::session_cookie(token, https));
    (
        jar,
        plain_jar,
        (StatusCode::SEE_OTHER, [(header::LOCATION, landing)]),
    )
        .into_response()
}
