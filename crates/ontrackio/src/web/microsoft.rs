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
use crate::audit::{self, Actor, actions};
use crate::auth::microsoft::client::{GraphError, MsError};
use crate::auth::microsoft::flow::{self, FlowState};
use crate::auth::microsoft::id_token::{self, Expectations};
use crate::auth::microsoft::policy::{self, Decision, Existing, Refusal};
use crate::auth::microsoft::settings::{self, SignInConfig};
use crate::auth::microsoft::{SCOPES, aadsts};
use crate::auth::session;
use crate::domain::{ReturnTo, Role, UserStatus};
use crate::store::batch::Batch;
use crate::store::{self, users::User, workspaces::Workspace};

const SYSTEM: &str = "Microsoft sign-in";
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
    let jar = jar.add(flow::removal(https));
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
    let settings = state.microsoft.settings.effective(&state, &ws).await?;
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
    let jar = jar.add(f.cookie(state.https()));
    Ok((StatusCode::FOUND, jar, [(header::LOCATION, url)]).into_response())
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
        .get(flow::cookie_name(https))
        .and_then(|c| FlowState::from_cookie_value(c.value()));
    let Some(params) = flow::CallbackParams::parse(raw.as_deref()) else {
        Box::pin(audit_refusal(
            &state,
            &ws,
            &client,
            "-",
            "malformed callback (repeated or oversized parameters)",
            None,
        ))
        .await?;
        return page(
            StatusCode::BAD_REQUEST,
            plain(&ws, "Sign-in failed", SESSION_EXPIRED),
            jar,
            https,
        );
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
            Box::pin(audit_refusal(
                &state,
                &ws,
                &client,
                "-",
                "missing, expired or mismatched sign-in state",
                None,
            ))
            .await?;
            return page(
                StatusCode::BAD_REQUEST,
                plain(&ws, "Sign-in failed", SESSION_EXPIRED),
                jar,
                https,
            );
        }
    };
    if let Some(error) = params.error {
        let desc = params.error_description.unwrap_or_default();
        let code = crate::auth::microsoft::client::parse_aadsts(&desc);
        let first_line: String = desc
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(500)
            .collect();
        Box::pin(audit_refusal(
            &state,
            &ws,
            &client,
            "-",
            &format!(
                "Microsoft returned {}",
                error.chars().take(60).collect::<String>()
            ),
            code,
        ))
        .await?;
        Box::pin(settings::record_failure(
            &state.db,
            &ws.id,
            code,
            &first_line,
        ))
        .await?;
        state
            .microsoft
            .settings
            .note_failure_recorded(ws.id.as_str());
        let text = (!first_line.is_empty()).then_some(first_line);
        return page(
            StatusCode::BAD_REQUEST,
            aadsts_page(&ws, code, text),
            jar,
            https,
        );
    }
    let Some(code) = params.code else {
        Box::pin(audit_refusal(
            &state,
            &ws,
            &client,
            "-",
            "callback without a code",
            None,
        ))
        .await?;
        return page(
            StatusCode::BAD_REQUEST,
            plain(&ws, "Sign-in failed", SESSION_EXPIRED),
            jar,
            https,
        );
    };
    let settings = Box::pin(state.microsoft.settings.effective(&state, &ws)).await?;
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
    match Box::pin(finish(&state, &ws, &client, &cfg, &flow, &code)).await {
        Ok(Finished::SignedIn { token, landing }) => {
            let jar = jar.add(flow::removal(https));
            let plain_jar = plain_jar.add(session::session_cookie(&token, https));
            Ok((
                jar,
                plain_jar,
                (StatusCode::SEE_OTHER, [(header::LOCATION, landing)]),
            )
                .into_response())
        }
        Ok(Finished::Refused(r)) => page(
            StatusCode::FORBIDDEN,
            plain(&ws, "Sign-in refused", r.message()),
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
            let jar = jar.add(flow::removal(https));
            Ok((jar, AppError::Internal(e)).into_response())
        }
    }
}

enum Finished {
    SignedIn {
        token: crate::crypto::SessionToken,
        landing: String,
    },
    Refused(Refusal),
}

enum Failure {
    Microsoft(MsError),
    Refused {
        title: &'static str,
        message: &'static str,
    },
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(
            anyhow::Error::new(e).context("Database request failed during Microsoft sign-in"),
        )
    }
}

const UNVERIFIABLE: &str = "Microsoft's answer could not be verified, so you were not signed in. Please try again; if it keeps happening, tell your workspace admin.";

async fn finish(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    cfg: &SignInConfig,
    flow: &FlowState,
    code: &str,
) -> Result<Finished, Failure> {
    let ms = &state.microsoft;
    let discovery = ms
        .client
        .discovery(cfg.tenant.segment())
        .await
        .map_err(Failure::Microsoft)?;
    let tokens = ms
        .client
        .exchange_code(
            &discovery.token_url,
            cfg.client_id.as_str(),
            &cfg.client_secret,
            code,
            cfg.redirect_uri.as_str(),
            &flow.v,
        )
        .await
        .map_err(Failure::Microsoft)?;
    let Some(id_token) = tokens.id_token.as_deref() else {
        refuse_audited(state, ws, client, "-", "token response without an ID token").await?;
        return Err(Failure::Refused {
            title: "Sign-in failed",
            message: UNVERIFIABLE,
        });
    };
    let expect = Expectations {
        jwks_uri: &discovery.jwks_uri,
        client_id: &cfg.client_id,
        nonce: &flow.n,
        pinned_tenant: cfg.tenant.pinned(),
    };
    let claims = match id_token::validate(id_token, &ms.client, &ms.jwks, &expect).await {
        Ok(c) => c,
        Err(e) => {
            refuse_audited(state, ws, client, "-", &format!("ID token refused: {e}")).await?;
            return Err(Failure::Refused {
                title: "Sign-in failed",
                message: UNVERIFIABLE,
            });
        }
    };
    let me = match ms.client.me(&tokens.access_token).await {
        Ok(me) => me,
        Err(GraphError::Denied(status)) => {
            refuse_audited(
                state,
                ws,
                client,
                &claims.oid,
                &format!("{} (Graph HTTP {status})", Refusal::NoEmail.audit_reason()),
            )
            .await?;
            return Ok(Finished::Refused(Refusal::NoEmail));
        }
        Err(GraphError::Other(e)) => {
            refuse_audited(
                state,
                ws,
                client,
                &claims.oid,
                &format!("Microsoft Graph failed: {e}"),
            )
            .await?;
            return Err(Failure::Refused {
                title: "Microsoft Graph did not answer",
                message: "Microsoft Graph did not return your profile, so you were not signed in. Please try again in a moment.",
            });
        }
    };
    if me.id.as_deref().map(str::to_ascii_lowercase).as_deref() != Some(claims.oid.as_str()) {
        refuse_audited(
            state,
            ws,
            client,
            &claims.oid,
            "Graph profile id differs from the ID token's oid",
        )
        .await?;
        return Err(Failure::Refused {
            title: "Sign-in failed",
            message: UNVERIFIABLE,
        });
    }
    let chosen = policy::choose_email(&claims, &me, cfg.tenant.pinned().is_some());
    let return_to = flow.r.as_deref().and_then(ReturnTo::parse);
    // A concurrent first sign-in of the same person can lose the race to insert the user
    // or the identity; the second attempt then finds and signs in the winner's row.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply(
            state,
            ws,
            client,
            cfg,
            &claims,
            &me,
            chosen.as_ref(),
            return_to.as_ref(),
        )
        .await
        {
            Err(Failure::Internal(e))
                if attempt == 1
                    && e.downcast_ref::<sqlx::Error>()
                        .is_some_and(store::is_unique_violation) =>
            {
                continue;
            }
            other => return other,
        }
    }
}

fn existing(u: &User) -> Existing {
    Existing {
        id: u.id.clone(),
        role: u.role,
        status: u.status,
        external: u.external,
        email_normalized: u.email.to_ascii_lowercase(),
    }
}

/// The identity policy's database half: one transaction, all or nothing.
#[allow(clippy::too_many_arguments)]
async fn apply(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    cfg: &SignInConfig,
    claims: &id_token::Claims,
    me: &crate::auth::microsoft::client::GraphMe,
    chosen: Option<&policy::ChosenEmail>,
    return_to: Option<&ReturnTo>,
) -> Result<Finished, Failure> {
    let mut tx = state.db.begin().await?;
    let by_identity = store::user_identities::find_user(
        &mut *tx,
        &ws.id,
        "microsoft",
        claims.tid.as_str(),
        &claims.oid,
    )
    .await?;
    // The user holding the email matters only when no identity matched, or when the
    // directory changed the address of the one that did (is the new one taken?).
    let by_email = match (chosen, &by_identity) {
        (Some(c), Some(u)) if existing(u).email_normalized == c.email.normalized() => None,
        (Some(c), _) => store::users::find_by_email(&mut *tx, &ws.id, &c.email).await?,
        (None, _) => None,
    };
    let decision = policy::decide(&policy::Input {
        allowed_domains: &cfg.allowed_domains,
        email: chosen,
        by_identity: by_identity.as_ref().map(existing).as_ref(),
        by_email: by_email.as_ref().map(existing).as_ref(),
    });
    let target = chosen
        .map(|c| c.email.as_str().to_string())
        .unwrap_or_else(|| claims.oid.clone());
    let details = serde_json::json!({"tid": claims.tid.as_str(), "oid": claims.oid});
    // Every write of a successful sign-in goes out as one batch: one round trip to the
    // database on SQLite (see `store::batch`), statement by statement on PostgreSQL.
    let mut writes = Batch::default();
    let (user_id, landing_path) = match decision {
        Decision::Refuse(r) => {
            let mut d = details.clone();
            d["reason"] = r.audit_reason().into();
            audit::record(
                &mut tx,
                &ws.id,
                Actor::System(SYSTEM),
                actions::MICROSOFT_SIGN_IN_REFUSED,
                &target,
                client.origin(),
                d,
            )
            .await?;
            tx.commit().await?;
            return Ok(Finished::Refused(r));
        }
        Decision::Provision => {
            let c = chosen.expect("provisioning needs an email");
            let (first, last) = policy::names(me, claims);
            let (id, insert) = store::users::insert_statement(
                &ws.id,
                store::users::NewUser {
                    email: &c.email,
                    first_name: &first,
                    last_name: &last,
                    role: Role::Employee,
                    external: false,
                    status: UserStatus::Active,
                    email_verified: true,
                    password_hash: None,
                },
            );
            writes.push(insert);
            writes.push(store::user_identities::insert_statement(
                &ws.id,
                &id,
                "microsoft",
                claims.tid.as_str(),
                &claims.oid,
            ));
            writes.push(audit::statement(
                &ws.id,
                Actor::System(SYSTEM),
                actions::MICROSOFT_USER_PROVISIONED,
                c.email.as_str(),
                client.origin(),
                details.clone(),
            ));
            writes.push(store::users::record_login_statement(&id, &client.ip));
            // A user created by this very sign-in starts on My → Dashboard.
            let landing =
                return_to.map_or_else(|| "/my/dashboard".to_string(), |r| r.as_str().to_string());
            (id, landing)
        }
        Decision::SignIn {
            user,
            link,
            update_email,
            role,
        } => {
            if link {
                writes.push(store::user_identities::insert_statement(
                    &ws.id,
                    &user,
                    "microsoft",
                    claims.tid.as_str(),
                    &claims.oid,
                ));
                writes.push(audit::statement(
                    &ws.id,
                    Actor::System(SYSTEM),
                    actions::MICROSOFT_ACCOUNT_LINKED,
                    &target,
                    client.origin(),
                    details.clone(),
                ));
            }
            let c = chosen.expect("signing in needs an email");
            if update_email {
                store::users::set_email(&mut *tx, &user, &c.email).await?;
            }
            // Cached names follow the directory, where it has them; one statement with
            // the last-login update and the verified mark.
            let names = (me.given_name.is_some() || me.surname.is_some())
                .then(|| policy::names(me, claims));
            writes.push(store::users::record_login_with_profile_statement(
                &user,
                &client.ip,
                names.as_ref().map(|(f, l)| (f.as_str(), l.as_str())),
                c.verified,
            ));
            let landing = match return_to {
                Some(r) => r.as_str().to_string(),
                None if role >= Role::Admin => "/admin/dashboard".to_string(),
                None => "/my/dashboard".to_string(),
            };
            (user, landing)
        }
    };
    let (token, session) =
        session::create_statement(&ws.id, &user_id, &client.ip, &client.user_agent);
    writes.push(session);
    let label = chosen
        .map(|c| c.email.as_str().to_string())
        .unwrap_or_default();
    writes.push(audit::statement(
        &ws.id,
        Actor::User {
            id: &user_id,
            label: &label,
        },
        actions::MICROSOFT_SIGN_IN,
        &label,
        client.origin(),
        details,
    ));
    let health = &state.microsoft.settings;
    let record_success = !health.success_recorded_recently(ws.id.as_str());
    if record_success {
        writes.push(store::microsoft_settings::record_success_statement(&ws.id));
    }
    writes.execute(&mut tx, state.db.backend()).await?;
    tx.commit().await?;
    // A returning user's names, address or last sign-in changed: pages read them afresh.
    state.sessions.forget_user(&user_id);
    if record_success {
        health.note_success_recorded(ws.id.as_str());
    }
    Ok(Finished::SignedIn {
        token,
        landing: landing_path,
    })
}

async fn refuse_audited(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    target: &str,
    reason: &str,
) -> Result<(), Failure> {
    audit_refusal(state, ws, client, target, reason, None)
        .await
        .map_err(|e| Failure::Internal(anyhow::anyhow!("{e:?}")))
}

async fn audit_refusal(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    target: &str,
    reason: &str,
    code: Option<u32>,
) -> Result<(), AppError> {
    let mut conn = state.db.pool().acquire().await?;
    let mut details = serde_json::json!({"reason": reason});
    if let Some(c) = code {
        details["aadsts"] = c.into();
    }
    audit::record(
        &mut conn,
        &ws.id,
        Actor::System(SYSTEM),
        actions::MICROSOFT_SIGN_IN_REFUSED,
        target,
        client.origin(),
        details,
    )
    .await?;
    Ok(())
}

/// An answer from Microsoft (or its absence) that an admin can act on: the AADSTS page,
/// the card's health line, one audit row.
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
    let mut conn = state.db.pool().acquire().await?;
    audit::record(
        &mut conn,
        &ws.id,
        Actor::System(SYSTEM),
        actions::MICROSOFT_SIGN_IN_REFUSED,
        "-",
        client.origin(),
        serde_json::json!({"reason": summary, "aadsts": code}),
    )
    .await?;
    drop(conn);
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
