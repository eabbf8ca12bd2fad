//! `/login` (password form and provider buttons) and `POST /logout`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

use super::chrome::Chrome;
use super::client::ClientInfo;
use super::host::CurrentWorkspace;
use super::session::{CurrentUser, MaybeUser};
use super::{AppError, AppState, csrf};
use crate::audit::{self, Actor, actions};
use crate::auth::{password, session, throttle};
use crate::domain::{EmailAddress, ReturnTo, UserStatus};
use crate::store::{self, users::User, workspaces::Workspace};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    return_to: String,
    notice: Option<&'static str>,
    error: Option<String>,
    email_error: Option<String>,
    microsoft_button: bool,
    google_button: bool,
    saml_button: bool,
    /// `?return_to=…` for the provider buttons, or nothing.
    provider_query: String,
}

impl LoginPage {
    async fn new(
        state: &AppState,
        ws: &Workspace,
        csrf: String,
        return_to: Option<&ReturnTo>,
    ) -> Result<Self, AppError> {
        let microsoft_button = state.microsoft_settings(ws).await?.button_visible();
        let google_button = state.google_settings(ws).await?.button_visible();
        let saml_button = state.saml_settings(ws).await?.is_complete();
        let provider_query = match return_to {
            Some(r) => format!(
                "?{}",
                serde_urlencoded::to_string([("return_to", r.as_str())]).unwrap_or_default()
            ),
            None => String::new(),
        };
        Ok(Self {
            chrome: Chrome::anonymous(ws, csrf),
            email: String::new(),
            return_to: return_to
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            notice: None,
            error: None,
            email_error: None,
            microsoft_button,
            google_button,
            saml_button,
            provider_query,
        })
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "signed-out" => Some("You have signed out."),
        "password-set" => Some("Your password is set. Sign in to continue."),
        _ => None,
    }
}

/// Where a user lands after signing in with a password: the one landing rule.
fn landing(user: &User, return_to: Option<&ReturnTo>) -> String {
    crate::auth::sign_in::landing(user.role, false, return_to)
}

pub async fn page(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    MaybeUser(cu): MaybeUser,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let return_to = q.return_to.as_deref().and_then(ReturnTo::parse);
    if let Some(cu) = cu {
        return Ok(Redirect::to(&landing(&cu.user, return_to.as_ref())).into_response());
    }
    let (token, seed) = csrf::token_for_page(&state, None, &jar);
    let mut page = LoginPage::new(&state, &ws, token, return_to.as_ref()).await?;
    page.notice = notice_text(q.notice.as_deref());
    let jar = match seed {
        Some(c) => jar.add(c),
        None => jar,
    };
    Ok((jar, Html(page.render()?)).into_response())
}

/// The one answer to every refused password sign-in: wrong password, unknown email or a
/// disabled account.
const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

pub async fn submit(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    client: ClientInfo,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let return_to = ReturnTo::parse(&form.return_to);
    let (token, _) = csrf::token_for_page(&state, None, &jar);
    // The form again, with what was typed and the message by its field.
    let mut base = LoginPage::new(&state, &ws, token, return_to.as_ref()).await?;
    base.email = form.email.chars().take(254).collect();
    let rerender = |status: StatusCode,
                    error: Option<String>,
                    email_error: Option<String>|
     -> Result<Response, AppError> {
        let page = LoginPage {
            error,
            email_error,
            ..base
        };
        Ok((status, Html(page.render()?)).into_response())
    };

    let email = match EmailAddress::parse_typed(&form.email) {
        Ok(e) => e,
        Err(e) => return rerender(StatusCode::UNPROCESSABLE_ENTITY, None, Some(e.to_string())),
    };
    if form.password.is_empty() {
        return rerender(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your password.".into()),
            None,
        );
    }

    // The attempt is counted before anything else: simultaneous guesses each see their
    // own count, so no burst gets past the limits.
    let mut conn = state.db.pool().acquire().await?;
    let attempt = match throttle::count_attempt(&mut conn, &ws.id, &email, &client.ip).await? {
        throttle::Admission::Admitted(a) => a,
        throttle::Admission::Refused {
            retry_after_secs,
            first,
        } => {
            // One row per bucket and window, not one per refused request.
            if first {
                audit::record(
                    &mut conn,
                    &ws.id,
                    Actor::System("sign-in page"),
                    actions::SIGN_IN_THROTTLED,
                    email.as_str(),
                    client.origin(),
                    serde_json::json!({"method": "password"}),
                )
                .await?;
            }
            return Err(AppError::TooManyRequests { retry_after_secs });
        }
    };
    let found = store::users::find_credentials(&mut *conn, &ws.id, &email).await?;
    drop(conn);
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, None),
    };
    // One Argon2 run whatever happened above.
    let ok = password::verify(SecretString::from(form.password.clone()), hash).await;

    let mut tx = state.db.begin().await?;
    let user = match (ok, user) {
        (true, Some(u)) if u.status != UserStatus::Disabled => u,
        (ok, user) => {
            // A disabled account answers exactly like a wrong password, right password or
            // not: the page must not confirm a password (DESIGN §6). The audit row, which
            // only admins read, says what happened.
            let reason = match (&user, ok) {
                (Some(_), true) => "account disabled",
                (Some(u), false) if u.status == UserStatus::Disabled => {
                    "wrong password (account disabled)"
                }
                (Some(_), false) => "wrong password",
                (None, _) => "unknown email",
            };
            audit::record(
                &mut tx,
                &ws.id,
                Actor::System("sign-in page"),
                actions::PASSWORD_SIGN_IN_FAILED,
                email.as_str(),
                client.origin(),
                serde_json::json!({"reason": reason}),
            )
            .await?;
            tx.commit().await?;
            return rerender(
                StatusCode::UNAUTHORIZED,
                Some(WRONG_CREDENTIALS.into()),
                None,
            );
        }
    };
    throttle::succeeded(&mut tx, &ws.id, &email, &client.ip, &attempt).await?;
    store::users::record_login(&mut *tx, &user.id, &client.ip).await?;
    let token = session::create(&mut tx, &ws.id, &user.id, &client.ip, &client.user_agent).await?;
    audit::record(
        &mut tx,
        &ws.id,
        Actor::User {
            id: &user.id,
            label: &user.email,
        },
        actions::PASSWORD_SIGN_IN,
        &user.email,
        client.origin(),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&user.id);

    let jar = jar.add(session::session_cookie(&token, state.https()));
    Ok((jar, Redirect::to(&landing(&user, return_to.as_ref()))).into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let mut tx = state.db.begin().await?;
    store::sessions::delete(&mut *tx, &cu.token_hash).await?;
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        actions::SIGNED_OUT,
        &cu.user.email,
        client.origin(),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&cu.user.id);
    let jar = jar.add(session::removal_cookie(state.https()));
    Ok((jar, Redirect::to("/login?notice=signed-out")).into_response())
}
