//! `GET /auth/microsoft` (start) and `GET /auth/microsoft/callback` (finish): DESIGN §5.1.

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{CookieJar, PrivateCookieJar};
use serde::Deserialize;

use super::client::ClientInfo;
use super::host::CurrentWorkspace;
pub use super::sign_in_flow::SESSION_EXPIRED;
use super::sign_in_flow::{
    self, AuthorizeRequest, ErrorPage, Unauthenticated, audit_unauthenticated, write_refusal,
};
use super::{AppError, AppState};
use crate::auth::microsoft::callback::{self, Failure, UNVERIFIABLE};
use crate::auth::microsoft::client::MsError;
use crate::auth::microsoft::settings;
use crate::auth::microsoft::{SCOPES, aadsts};
use crate::auth::oidc::flow;
use crate::auth::sign_in::{self, Provider};
use crate::store::workspaces::Workspace;

const MICROSOFT: Provider = Provider::Microsoft;

fn page(
    status: StatusCode,
    p: ErrorPage,
    jar: PrivateCookieJar,
    https: bool,
) -> Result<Response, AppError> {
    p.respond(status, MICROSOFT, jar, https)
}

fn plain(ws: &Workspace, title: &str, message: &str) -> ErrorPage {
    ErrorPage::plain(MICROSOFT, ws, title, message)
}

fn aadsts_page(ws: &Workspace, code: Option<u32>, microsoft_text: Option<String>) -> ErrorPage {
    let e = code.and_then(aadsts::explain);
    ErrorPage {
        provider: MICROSOFT.display_name(),
        workspace_name: ws.name.clone(),
        title: e.as_ref().map_or("Microsoft could not sign you in", |e| e.title).into(),
        message: "Microsoft did not complete the sign-in. If this keeps happening, send your workspace admin the code below.".into(),
        code,
        meaning: e.as_ref().map(|e| e.meaning),
        fix: e.as_ref().map(|e| e.fix),
        provider_text: microsoft_text,
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
    sign_in_flow::check_start_limit(&state, &client)?;
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
    let request = AuthorizeRequest {
        provider: MICROSOFT,
        endpoint: &discovery.authorization_endpoint,
        client_id: cfg.client_id.as_str(),
        redirect_uri: cfg.redirect_uri.as_str(),
        scope: SCOPES,
        extra: &[("response_mode", "query")],
    };
    sign_in_flow::redirect_to_provider(&state, &ws, q.return_to.as_deref(), request, jar)
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
    let expired = |jar| {
        page(
            StatusCode::BAD_REQUEST,
            plain(&ws, "Sign-in failed", SESSION_EXPIRED),
            jar,
            https,
        )
    };
    let accepted = Box::pin(sign_in_flow::accept_callback(
        &state,
        MICROSOFT,
        &ws,
        &client,
        &jar,
        raw.as_deref(),
    ))
    .await?;
    let Some((flow, params)) = accepted else {
        return expired(jar);
    };
    if let Some(error) = params.error {
        // Everything here came from the browser: the visitor may have written it. Only
        // the code is kept, with our own words for it; never their prose.
        let code = params
            .error_description
            .as_deref()
            .and_then(crate::auth::microsoft::client::parse_aadsts);
        let summary = callback_error_summary(&error, code);
        let kind = Unauthenticated::ProviderError;
        let admitted = Box::pin(audit_unauthenticated(
            &state, MICROSOFT, &ws, &client, kind, &summary, code,
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
            &state, MICROSOFT, &ws, &client, kind, reason, None,
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
        .flows
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
        Ok(sign_in::Outcome::SignedIn {
            token,
            landing,
            fresh,
            ..
        }) => Ok(sign_in_flow::signed_in(
            &state,
            Provider::Microsoft,
            (jar, plain_jar),
            &token,
            landing,
            fresh,
        )),
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

/// The health line's and audit row's text for an `error` on the callback: the product's
/// own words for the AADSTS code, else the OAuth error's registered name.
fn callback_error_summary(error: &str, code: Option<u32>) -> String {
    if let Some(e) = code.and_then(aadsts::explain) {
        return format!("Microsoft reported: {}", e.title);
    }
    match sign_in_flow::registered_oauth_error(error) {
        Some(known) => format!("Microsoft returned the error {known}"),
        None => "Microsoft returned an unrecognised error".to_string(),
    }
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
    write_refusal(state, MICROSOFT, ws, client, "-", details).await?;
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
