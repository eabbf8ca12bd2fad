//! My → Dashboard and My → Profile (names and avatar).

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::chrome::Chrome;
use super::client::ClientInfo;
use super::session::CurrentUser;
use super::{AppError, AppState, csrf};
use crate::audit::{self, actions};
use crate::avatar::{self, AvatarError};
use crate::domain::{PersonName, UserId};
use crate::store;

/// The multipart body around a 2 MB image, with room to report "too large" clearly.
pub const AVATAR_BODY_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Template)]
#[template(path = "my_dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    first_name: String,
    role_label: &'static str,
    last_login: String,
    external: bool,
}

pub async fn dashboard(cu: CurrentUser) -> Result<Response, AppError> {
    let token = cu.csrf_token.to_string();
    let u = &cu.user;
    let page = DashboardPage {
        first_name: if u.first_name.is_empty() {
            u.display_name()
        } else {
            u.first_name.clone()
        },
        role_label: u.role.label(),
        last_login: cu.chrome.last_login.clone(),
        external: u.external,
        chrome: Chrome::for_user(&cu, "my-dashboard", token),
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Template)]
#[template(path = "my_profile.html")]
struct ProfilePage {
    chrome: Chrome,
    first_name: String,
    last_name: String,
    email: String,
    notice: Option<&'static str>,
    first_name_error: Option<String>,
    last_name_error: Option<String>,
    avatar_error: Option<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn profile_page(cu: &CurrentUser, token: String) -> ProfilePage {
    ProfilePage {
        chrome: Chrome::for_user(cu, "my-profile", token),
        first_name: cu.user.first_name.clone(),
        last_name: cu.user.last_name.clone(),
        email: cu.user.email.clone(),
        notice: None,
        first_name_error: None,
        last_name_error: None,
        avatar_error: None,
    }
}

pub async fn profile(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let (token, _) = csrf::token_for_page(&state, Some(&cu), &jar);
    let mut page = profile_page(&cu, token);
    page.notice = match q.notice.as_deref() {
        Some("saved") => Some("Your profile is saved."),
        Some("avatar") => Some("Your new picture is saved."),
        _ => None,
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

pub async fn update_profile(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    Form(form): Form<ProfileForm>,
) -> Result<Response, AppError> {
    let first = PersonName::parse(&form.first_name).map_err(|e| e.for_field("First name"));
    let last = PersonName::parse(&form.last_name).map_err(|e| e.for_field("Last name"));
    let (first, last) = match (first, last) {
        (Ok(f), Ok(l)) => (f, l),
        (f, l) => {
            let (token, _) = csrf::token_for_page(&state, Some(&cu), &jar);
            let mut page = profile_page(&cu, token);
            page.first_name = form.first_name.chars().take(200).collect();
            page.last_name = form.last_name.chars().take(200).collect();
            page.first_name_error = f.err();
            page.last_name_error = l.err();
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
        }
    };
    let mut tx = state.db.begin().await?;
    store::users::set_names(&mut *tx, &cu.user.id, first.as_str(), last.as_str()).await?;
    let details = serde_json::json!({
        "first_name": {"from": cu.user.first_name, "to": first.as_str()},
        "last_name": {"from": cu.user.last_name, "to": last.as_str()},
    });
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        actions::PROFILE_UPDATED,
        &cu.user.email,
        client.origin(),
        details,
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&cu.user.id);
    Ok(Redirect::to("/my/profile?notice=saved").into_response())
}

pub async fn upload_avatar(
    State(state): State<AppState>,
    cu: CurrentUser,
    client: ClientInfo,
    jar: CookieJar,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    let bytes = match read_avatar_field(multipart).await {
        Ok(b) => b,
        Err(e) => return avatar_refused(&state, &cu, &jar, e),
    };
    let processed = tokio::task::spawn_blocking(move || avatar::process(&bytes))
        .await
        .map_err(|e| anyhow::anyhow!("avatar processing task failed: {e}"))?;
    let png = match processed {
        Ok(p) => p,
        Err(e) => return avatar_refused(&state, &cu, &jar, e),
    };
    let mut tx = state.db.begin().await?;
    store::avatars::upsert(&mut *tx, &cu.user.id, &png).await?;
    store::users::bump_avatar_version(&mut *tx, &cu.user.id).await?;
    audit::record(
        &mut tx,
        &cu.workspace.id,
        cu.actor(),
        actions::AVATAR_CHANGED,
        &cu.user.email,
        client.origin(),
        serde_json::json!({"bytes": png.len()}),
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_user(&cu.user.id);
    Ok(Redirect::to("/my/profile?notice=avatar").into_response())
}

async fn read_avatar_field(
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Vec<u8>, AvatarError> {
    let mut mp = multipart.map_err(|_| AvatarError::Empty)?;
    loop {
        match mp.next_field().await {
            Ok(Some(field)) if field.name() == Some("avatar") => {
                let mut out = Vec::new();
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            out.extend_from_slice(&chunk);
                            if out.len() > avatar::MAX_UPLOAD_BYTES {
                                return Err(AvatarError::TooLarge);
                            }
                        }
                        Ok(None) => return Ok(out),
                        Err(_) => return Err(AvatarError::TooLarge),
                    }
                }
            }
            Ok(Some(_)) => continue,
            Ok(None) => return Err(AvatarError::Empty),
            Err(_) => return Err(AvatarError::TooLarge),
        }
    }
}

fn avatar_refused(
    state: &AppState,
    cu: &CurrentUser,
    jar: &CookieJar,
    e: AvatarError,
) -> Result<Response, AppError> {
    let (token, _) = csrf::token_for_page(state, Some(cu), jar);
    let mut page = profile_page(cu, token);
    page.avatar_error = Some(e.to_string());
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
}

/// `/avatars/{user-id}-{version}.png`: any signed-in member of the workspace may see it.
pub async fn avatar(
    State(state): State<AppState>,
    cu: CurrentUser,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let stem = file.strip_suffix(".png").ok_or(AppError::NotFound)?;
    // A UUID is 36 characters; the version follows its hyphen.
    let id = stem
        .get(..36)
        .and_then(UserId::parse)
        .ok_or(AppError::NotFound)?;
    let png = store::avatars::find(state.db.pool(), &cu.workspace.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        png,
    )
        .into_response())
}
