//! `GET /auth/google` (start) and `GET /auth/google/callback` (finish): the HTTP half of
//! Google sign-in. The protocol is in `auth::google`, the account rules in
//! `auth::sign_in`, and what every provider's flow shares in `sign_in_flow`.

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{CookieJar, PrivateCookieJar};
use serde::Deserialize;

use super::client::ClientInfo;
use super::host::CurrentWorkspace;
use super::sign_in_flow::{
    self, AuthorizeRequest, ErrorPage, SESSION_EXPIRED, Unauthenticated, audit_unauthenticated,
    write_refusal,
};
use super::{AppError, AppState};
use crate::auth::google::callback::{self, Failure, UNVERIFIABLE};
use crate::auth::google::client::GoogleError;
use crate::auth::google::{SCOPES, settings};
use crate::auth::oidc::flow;
use crate::auth::sign_in::{self, Provider};
use crate::store::workspaces::Workspace;

const GOOGLE: Provider = Provider::Google;

fn plain(ws: &Workspace, title: &str, message: &str) -> ErrorPage {
    ErrorPage::plain(GOOGLE, ws, title, message)
}

fn not_available(ws: &Workspace) -> ErrorPage {
    plain(
        ws,
        "Google sign-in is not available",
        "Google sign-in is not enabled for this workspace. Sign in another way, or ask your workspace admin.",
    )
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
    let https = state.https();
    let settings = state.google_settings(&ws).await?;
    let Some(cfg) = settings.sign_in() else {
        return not_available(&ws).respond(StatusCode::NOT_FOUND, GOOGLE, jar, https);
    };
    let discovery = match state.google.client.discovery().await {
        Ok(d) => d,
        Err(e) => return google_failure(&state, &ws, &client, jar, e).await,
    };
    // No `hd` parameter: it is only a hint to Google's account picker, and the
    // allowlist is checked against the token's `hd` claim, whatever the request said.
    let request = AuthorizeRequest {
        provider: GOOGLE,
        endpoint: &discovery.authorization_endpoint,
        client_id: cfg.client_id.as_str(),
        redirect_uri: cfg.redirect_uri.as_str(),
        scope: SCOPES,
        extra: &[],
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
        plain(&ws, "Sign-in failed", SESSION_EXPIRED).respond(
            StatusCode::BAD_REQUEST,
            GOOGLE,
            jar,
            https,
        )
    };
    let accepted = Box::pin(sign_in_flow::accept_callback(
        &state,
        GOOGLE,
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
        // From the browser: a visitor may have written it. Only a registered error name
        // is kept, never their prose.
        let summary = match sign_in_flow::registered_oauth_error(&error) {
            Some(known) => format!("Google returned the error {known}"),
            None => "Google returned an unrecognised error".to_string(),
        };
        let kind = Unauthenticated::ProviderError;
        let admitted = Box::pin(audit_unauthenticated(
            &state, GOOGLE, &ws, &client, kind, &summary, None,
        ))
        .await?;
        if admitted {
            Box::pin(settings::record_failure(&state.db, &ws.id, &summary)).await?;
            state.google.settings.note_failure_recorded(ws.id.as_str());
        }
        let message = if error == "access_denied" {
            "The sign-in was cancelled at Google, so you were not signed in. Try again, and choose Allow if Google asks."
        } else {
            "Google did not complete the sign-in. Please try again; if it keeps happening, tell your workspace admin."
        };
        return plain(&ws, "Google could not sign you in", message).respond(
            StatusCode::BAD_REQUEST,
            GOOGLE,
            jar,
            https,
        );
    }
    let Some(code) = params.code else {
        let kind = Unauthenticated::NoCode;
        let reason = "callback without a code";
        Box::pin(audit_unauthenticated(
            &state, GOOGLE, &ws, &client, kind, reason, None,
        ))
        .await?;
        return expired(jar);
    };
    let settings = Box::pin(state.google_settings(&ws)).await?;
    let Some(cfg) = settings.sign_in() else {
        return not_available(&ws).respond(StatusCode::NOT_FOUND, GOOGLE, jar, https);
    };
    // The allowed email domains are one workspace setting, shared by every provider.
    let shared = Box::pin(state.microsoft_settings(&ws)).await?;
    let allowed_domains = &shared.allowed_domains.value;
    // Wait for a turn before the sign-in's own (large) future exists (see Flows).
    let _turn = state
        .flows
        .finishing
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let cx = callback::Context {
        db: &state.db,
        notify: &state.sessions,
        google: &state.google,
    };
    let requester = sign_in::Requester {
        ip: &client.ip,
        user_agent: &client.user_agent,
    };
    let finishing = callback::finish(&cx, &ws, requester, &cfg, allowed_domains, &flow, &code);
    match Box::pin(finishing).await {
        Ok(sign_in::Outcome::SignedIn {
            token,
            landing,
            fresh,
            ..
        }) => Ok(sign_in_flow::signed_in(
            &state,
            GOOGLE,
            (jar, plain_jar),
            &token,
            landing,
            fresh,
        )),
        Ok(sign_in::Outcome::Refused(r)) => plain(
            &ws,
            "Sign-in refused",
            GOOGLE.refusal_message(r),
        )
        .respond(StatusCode::FORBIDDEN, GOOGLE, jar, https),
        Err(Failure::Google(e)) => Box::pin(google_failure(&state, &ws, &client, jar, e)).await,
        Err(Failure::Refused { title, message }) => {
            plain(&ws, title, message).respond(StatusCode::BAD_GATEWAY, GOOGLE, jar, https)
        }
        Err(Failure::Internal(e)) => {
            let jar = jar.add(flow::removal(GOOGLE, https));
            Ok((jar, AppError::Internal(e)).into_response())
        }
    }
}

/// An answer from Google's servers (or its absence) that an admin can act on: the page,
/// the card's health line, one audit row.
async fn google_failure(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    jar: PrivateCookieJar,
    e: GoogleError,
) -> Result<Response, AppError> {
    let summary = e.to_string();
    let details = serde_json::json!({"reason": summary});
    write_refusal(state, GOOGLE, ws, client, "-", details).await?;
    settings::record_failure(&state.db, &ws.id, &summary).await?;
    state.google.settings.note_failure_recorded(ws.id.as_str());
    let p = match &e {
        GoogleError::Oauth {
            error, description, ..
        } => {
            let mut p = plain(
                ws,
                "Google could not sign you in",
                "Google did not complete the sign-in. If this keeps happening, send your workspace admin the message below.",
            );
            p.provider_text = Some(if description.is_empty() {
                error.clone()
            } else {
                format!("{error}: {description}")
            });
            p
        }
        GoogleError::Transport(_) => plain(
            ws,
            "Google did not answer",
            "Google could not be reached, so you were not signed in. Please try again in a moment.",
        ),
        GoogleError::Untrusted(_) => plain(ws, "Sign-in failed", UNVERIFIABLE),
    };
    p.respond(StatusCode::BAD_GATEWAY, GOOGLE, jar, state.https())
}
