//! `GET /auth/microsoft` (start) and `GET /auth/microsoft/callback` (finish): DESIGN §5.1.

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::{CookieJar, PrivateCookieJar};
use serde::Deserialize;

use super::client::ClientInfo;
use super::host::CurrentWorkspace;
use super::{AppError, AppState};
use crate::audit::{self, Actor};
use crate::auth::microsoft::callback::{self, Failure, UNVERIFIABLE};
use crate::auth::microsoft::client::MsError;
use crate::auth::microsoft::settings;
use crate::auth::microsoft::{SCOPES, aadsts};
use crate::auth::oidc::flow::{self, FlowState};
use crate::auth::session;
use crate::auth::sign_in::{self, Provider};
use crate::domain::ReturnTo;
use crate::store::{self, workspaces::Workspace};
pub const SESSION_EXPIRED: &str = "Session expired. Please try again.";

#[derive(Template)]
#[template(path = "microsoft_error.html")]
pub struct MicrosoftErrorPage {
    pub workspace_name: String,
    pub title: String,
    pub message: String,
    pub code: Option<u32>,
    pub meaning: Option<&'static str>,
    pub fix: Option<&'static str>,
    pub microsoft_text: Option<String>,
}

fn page(
    status: StatusCode,
    p: MicrosoftErrorPage,
    jar: PrivateCookieJar,
    https: bool,
) -> Result<Response, AppError> {
    let jar = jar.add(flow::removal(Provider::Microsoft, https));
    Ok((status, jar, Html(p.render()?)).into_response())
}

fn plain(ws: &Workspace, title: &str, message: &str) -> MicrosoftErrorPage {
    MicrosoftErrorPage {
        workspace_name: ws.name.clone(),
        title: title.into(),
        message: message.into(),
        code: None,
        meaning: None,
        fix: None,
        microsoft_text: None,
    }
}

fn aadsts_page(
    ws: &Workspace,
    code: Option<u32>,
    microsoft_text: Option<String>,
) -> MicrosoftErrorPage {
    let e = code.and_then(aadsts::explain);
    MicrosoftErrorPage {
        workspace_name: ws.name.clone(),
        title: e.as_ref().map_or("Microsoft could not sign you in", |e| e.title).into(),
        message: "Microsoft did not complete the sign-in. If this keeps happening, send your workspace admin the code below.".into(),
        code,
        meaning: e.as_ref().map(|e| e.meaning),
        fix: e.as_ref().map(|e| e.fix),
        microsoft_text,
    }
}

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// Starts the flow: nothing is written to the database; the flow lives in its cookie.
pub async fn start(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    client: ClientInfo,
    jar: PrivateCookieJar,
    Query(q): Query<StartQuery>,
) -> Result<Response, AppError> {
    if let Ok(ip) = client.ip.parse::<std::net::IpAddr>()
        && let Err(not_until) = state.microsoft.start_limiter.check_key(&ip)
    {
        let limiter = &state.microsoft.start_limiter;
        let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
        return Err(AppError::TooManyRequests {
            retry_after_secs: wait.as_secs().max(1) as i64,
        });
    }
    let settings = state.microsoft_settings(&ws).await?;
    let Some(cfg) = settings.sign_in() else {
        return page(
            StatusCode::NOT_FOUND,
            plain(
                &ws,
                "Microsoft sign-in is not available",
                "Microsoft sign-in is not enabled for this workspace. Sign in with your password, or ask your workspace admin.",
            ),
            jar,
            state.https(),
        );
    };
    let tenant = cfg.tenant.segment();
    let discovery = match state.microsoft.client.discovery(tenant).await {
        Ok(d) => d,
        Err(e) => return microsoft_failure(&state, &ws, &client, jar, e).await,
    };
    let f = FlowState::new(
        ws.id.as_str(),
        q.return_to
            .as_deref()
            .and_then(ReturnTo::parse)
            .map(|r| r.as_str().to_string()),
        store::now(),
    );
    let challenge = f.challenge();
    let params = [
        ("client_id", cfg.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", cfg.redirect_uri.as_str()),
        ("response_mode", "query"),
        ("scope", SCOPES),
        ("state", f.s.as_str()),
        ("nonce", f.n.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("prompt", "select_account"),
    ];
    let query =
        serde_urlencoded::to_string(params).map_err(|e| anyhow::anyhow!("authorize URL: {e}"))?;
    let url = format!("{}?{query}", discovery.authorization_endpoint);
    let jar = jar.add(f.cookie(Provider::Microsoft, state.https()));
    Ok((StatusCode::FOUND, jar, [(header::LOCATION, url)]).into_response())
}

/// Refusals of callbacks that anyone can send (no valid flow, or a flow cookie replayed):
/// the audit row is coalesced per workspace and kind (`audit::Coalescer`).
#[derive(Clone, Copy)]
enum Unauthenticated {
    Malformed,
    NoFlow,
    NoCode,
    MicrosoftError,
}

impl Unauthenticated {
    fn kind(self) -> &'static str {
        match self {
            Self::Malformed => "malformed callback",
            Self::NoFlow => "no matching sign-in flow",
            Self::NoCode => "callback without a code",
            Self::MicrosoftError => "error from Microsoft",
        }
    }
}

pub async fn callback(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    client: ClientInfo,
    jar: PrivateCookieJar,
    plain_jar: CookieJar,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let https = state.https();
    let flow_cookie = jar
        .get(flow::cookie_name(Provider::Microsoft, https))
        .and_then(|c| FlowState::from_cookie_value(c.value()));
    let expired = |jar| {
        page(
            StatusCode::BAD_REQUEST,
            plain(&ws, "Sign-in failed", SESSION_EXPIRED),
            jar,
            https,
        )
    };
    let Some(params) = flow::CallbackParams::parse(raw.as_deref()) else {
        let reason = "malformed callback (repeated or oversized parameters)";
        let kind = Unauthenticated::Malformed;
        Box::pin(audit_unauthenticated(
            &state, &ws, &client, kind, reason, None,
        ))
        .await?;
        return expired(jar);
    };
    // The flow must be this browser's, on this workspace, recent, and answer our state.
    let flow = match flow_cookie {
        Some(f)
            if !f.is_expired(store::now())
                && f.w == ws.id.as_str()
                && params.state.as_deref() == Some(f.s.as_str()) =>
        {
            f
        }
        _ => {
            let reason = "missing, expired or mismatched sign-in state";
            let kind = Unauthenticated::NoFlow;
            Box::pin(audit_unauthenticated(
                &state, &ws, &client, kind, reason, None,
            ))
            .await?;
            return expired(jar);
        }
    };
    if let Some(error) = params.error {
        // Everything here came from the browser: the visitor may have written it. Only
        // the code is kept, with our own words for it; never their prose.
        let code = params
            .error_description
            .as_deref()
            .and_then(crate::auth::microsoft::client::parse_aadsts);
        let summary = callback_error_summary(&error, code);
        let kind = Unauthenticated::MicrosoftError;
        let admitted = Box::pin(audit_unauthenticated(
            &state, &ws, &client, kind, &summary, code,
        ))
        .await?;
        if admitted {
            Box::pin(settings::record_failure(&state.db, &ws.id, code, &summary)).await?;
            state
                .microsoft
                .settings
                .note_failure_recorded(ws.id.as_str());
        }
        return page(
            StatusCode::BAD_REQUEST,
            aadsts_page(&ws, code, None),
            jar,
            https,
        );
    }
    let Some(code) = params.code else {
        let kind = Unauthenticated::NoCode;
        let reason = "callback without a code";
        Box::pin(audit_unauthenticated(
            &state, &ws, &client, kind, reason, None,
        ))
        .await?;
        return expired(jar);
    };
    let settings = Box::pin(state.microsoft_settings(&ws)).await?;
    let Some(cfg) = settings.sign_in() else {
        return page(
            StatusCode::NOT_FOUND,
            plain(
                &ws,
                "Microsoft sign-in is not available",
                "Microsoft sign-in was turned off for this workspace. Sign in with your password, or ask your workspace admin.",
            ),
            jar,
            https,
        );
    };
    // Wait for a turn here, before the sign-in's own (large) future exists: a burst of
    // queued callbacks then costs a few hundred bytes each, not the whole exchange's state.
    // Never closed, so acquiring only waits.
    let _turn = state
        .microsoft
        .finishing
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let cx = callback::Context {
        db: &state.db,
        notify: &state.sessions,
        microsoft: &state.microsoft,
    };
    let requester = sign_in::Requester {
        ip: &client.ip,
        user_agent: &client.user_agent,
    };
    match Box::pin(callback::finish(&cx, &ws, requester, &cfg, &flow, &code)).await {
        Ok(sign_in::Outcome::SignedIn { token, landing, .. }) => {
            let jar = jar.add(flow::removal(Provider::Microsoft, https));
            let plain_jar = plain_jar.add(session::session_cookie(&token, https));
            Ok((
                jar,
                plain_jar,
                (StatusCode::SEE_OTHER, [(header::LOCATION, landing)]),
            )
                .into_response())
        }
        Ok(sign_in::Outcome::Refused(r)) => page(
            StatusCode::FORBIDDEN,
            plain(
                &ws,
                "Sign-in refused",
                Provider::Microsoft.refusal_message(r),
            ),
            jar,
            https,
        ),
        Err(Failure::Microsoft(e)) => {
            Box::pin(microsoft_failure(&state, &ws, &client, jar, e)).await
        }
        Err(Failure::Refused { title, message }) => page(
            StatusCode::BAD_GATEWAY,
            plain(&ws, title, message),
            jar,
            https,
        ),
        Err(Failure::Internal(e)) => {
            let jar = jar.add(flow::removal(Provider::Microsoft, https));
            Ok((jar, AppError::Internal(e)).into_response())
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

/// The health line's and audit row's text for an `error` on the callback: the product's
/// own words for the AADSTS code, else the OAuth error's registered name.
fn callback_error_summary(error: &str, code: Option<u32>) -> String {
    if let Some(e) = code.and_then(aadsts::explain) {
        return format!("Microsoft reported: {}", e.title);
    }
    match OAUTH_ERRORS.iter().find(|e| **e == error) {
        Some(known) => format!("Microsoft returned the error {known}"),
        None => "Microsoft returned an unrecognised error".to_string(),
    }
}

/// A refusal anyone could have caused: written only when the coalescer admits it, with
/// the number of similar ones it left out since the last row. `Ok(false)`: only counted.
async fn audit_unauthenticated(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    kind: Unauthenticated,
    reason: &str,
    code: Option<u32>,
) -> Result<bool, AppError> {
    let Some(left_out) =
        state
            .microsoft
            .unauthenticated_refusals
            .admit(&ws.id, kind.kind(), store::now())
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
    write_refusal(state, ws, client, "-", details).await?;
    Ok(true)
}

async fn write_refusal(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    target: &str,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let mut conn = state.db.pool().acquire().await?;
    audit::record(
        &mut conn,
        &ws.id,
        Actor::System(Provider::Microsoft.system_actor()),
        Provider::Microsoft.refused_action(),
        target,
        client.origin(),
        details,
    )
    .await?;
    Ok(())
}

/// An answer from Microsoft (or its absence) that an admin can act on: the AADSTS page,
/// the card's health line, one audit row. These come from Microsoft's servers over the
/// outbound client, never from the browser.
async fn microsoft_failure(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    jar: PrivateCookieJar,
    e: MsError,
) -> Result<Response, AppError> {
    let code = e.aadsts();
    let summary = match &e {
        MsError::Oauth { description, .. } => description.clone(),
        other => other.to_string(),
    };
    let details = serde_json::json!({"reason": summary, "aadsts": code});
    write_refusal(state, ws, client, "-", details).await?;
    settings::record_failure(&state.db, &ws.id, code, &summary).await?;
    state
        .microsoft
        .settings
        .note_failure_recorded(ws.id.as_str());
    let p = match &e {
        MsError::Oauth { description, .. } => aadsts_page(
            ws,
            code,
            Some(description.clone()).filter(|d| !d.is_empty()),
        ),
        MsError::Transport(_) => plain(
            ws,
            "Microsoft did not answer",
            "Microsoft could not be reached, so you were not signed in. Please try again in a moment.",
        ),
        MsError::Untrusted(_) => plain(ws, "Sign-in failed", UNVERIFIABLE),
    };
    page(StatusCode::BAD_GATEWAY, p, jar, state.https())
}
