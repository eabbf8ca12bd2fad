//! One-time setup links: a new super-admin chooses a password in the browser, so it never
//! appears on a command line or in shell history.

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
use super::{AppError, AppState, csrf};
use crate::accounts::AccountError;
use crate::auth::password;
use crate::crypto::hash_token;
use crate::store;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    valid: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

pub async fn page(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    jar: CookieJar,
    Query(q): Query<SetupQuery>,
) -> Result<Response, AppError> {
    let valid = store::setup_tokens::is_valid(state.db.pool(), &hash_token(&q.token)).await?;
    let (csrf_token, seed) = csrf::token_for_page(&state, None, &jar);
    let page = SetupPage {
        chrome: Chrome::anonymous(&ws, csrf_token),
        token: q.token,
        valid,
        error: None,
    };
    let jar = match seed {
        Some(c) => jar.add(c),
        None => jar,
    };
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok((status, jar, Html(page.render()?)).into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn submit(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    client: ClientInfo,
    jar: CookieJar,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    let (csrf_token, _) = csrf::token_for_page(&state, None, &jar);
    let problem = if let Err(msg) = password::check_strength(&form.password) {
        Some(msg)
    } else if form.password != form.confirm {
        Some("The two passwords do not match.")
    } else {
        None
    };
    if let Some(msg) = problem {
        let page = SetupPage {
            chrome: Chrome::anonymous(&ws, csrf_token),
            token: form.token,
            valid: true,
            error: Some(msg.into()),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    let result = state
        .accounts()
        .set_password_with_link(
            &ws,
            client.origin(),
            &form.token,
            SecretString::from(form.password),
        )
        .await;
    match result {
        Ok(_) => {}
        Err(AccountError::SetupLinkInvalid) => {
            let page = SetupPage {
                chrome: Chrome::anonymous(&ws, csrf_token),
                token: String::new(),
                valid: false,
                error: None,
            };
            return Ok((StatusCode::NOT_FOUND, Html(page.render()?)).into_response());
        }
        Err(e) => return Err(AppError::Internal(e.into())),
    }
    Ok(Redirect::to("/login?notice=password-set").into_response())
}
