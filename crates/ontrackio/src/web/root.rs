//! `/` on a workspace host, and the "find your workspace" page on the bare base domain.

use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::host::Site;
use super::session::MaybeUser;
use super::{AppError, AppState};
use crate::domain::WorkspaceSlug;
use crate::store;

#[derive(Template)]
#[template(path = "find_workspace.html")]
struct FindWorkspace {
    value: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct FindQuery {
    workspace: Option<String>,
}

pub async fn index(
    State(state): State<AppState>,
    Extension(site): Extension<Site>,
    MaybeUser(cu): MaybeUser,
    Query(q): Query<FindQuery>,
) -> Result<Response, AppError> {
    match site {
        Site::Workspace(_) => Ok(match cu {
            Some(cu) => Redirect::to(&crate::auth::sign_in::landing(cu.user.role, false, None)),
            None => Redirect::to("/login"),
        }
        .into_response()),
        Site::Root => {
            let Some(raw) = q.workspace else {
                return Ok(Html(
                    FindWorkspace {
                        value: String::new(),
                        error: None,
                    }
                    .render()?,
                )
                .into_response());
            };
            let found = match WorkspaceSlug::parse(&raw) {
                Ok(slug) => store::workspaces::find_by_slug(state.db.pool(), slug.as_str())
                    .await?
                    .map(|_| slug),
                Err(_) => None,
            };
            match found {
                Some(slug) => {
                    let url = format!(
                        "{}/login",
                        state.config.base_url.workspace_origin(slug.as_str())
                    );
                    Ok(Redirect::to(&url).into_response())
                }
                None => {
                    let page = FindWorkspace {
                        value: raw.chars().take(60).collect(),
                        error: Some(
                            "No workspace has that name. Check the address your admin sent you."
                                .into(),
                        ),
                    };
                    Ok((axum::http::StatusCode::NOT_FOUND, Html(page.render()?)).into_response())
                }
            }
        }
    }
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}
