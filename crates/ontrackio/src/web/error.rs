//! One error type for the web layer; every variant becomes a clear page.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("CSRF check failed")]
    Csrf,
    #[error("too many attempts")]
    TooManyRequests { retry_after_secs: i64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("Database request failed"))
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("Failed to render a template"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub title: &'a str,
    pub message: &'a str,
    pub reference: Option<&'a str>,
    pub back_to_login: bool,
}

impl ErrorPage<'_> {
    pub fn respond(&self) -> Response {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.render() {
            Ok(html) => (code, Html(html)).into_response(),
            Err(_) => (code, self.message.to_string()).into_response(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => ErrorPage {
                status: 404,
                title: "Page not found",
                message: "There is nothing at this address. Check the link, or go back to your workspace.",
                reference: None,
                back_to_login: false,
            }
            .respond(),
            Self::Forbidden => ErrorPage {
                status: 403,
                title: "You don’t have access to this page",
                message: "This page is for workspace admins. If you need access, ask an admin of your workspace.",
                reference: None,
                back_to_login: false,
            }
            .respond(),
            Self::Csrf => ErrorPage {
                status: 403,
                title: "This form has expired",
                message: "The form was too old or did not come from this workspace, so nothing was changed. Go back, reload the page and try again.",
                reference: None,
                back_to_login: false,
            }
            .respond(),
            Self::TooManyRequests { retry_after_secs } => {
                // A Microsoft flow start waits a second or so, a password up to a quarter
                // of an hour: say which, so that someone behind a busy office address
                // tries again in a moment rather than in a minute (docs/operations.md §5).
                let plural = |n: i64| if n == 1 { "" } else { "s" };
                let wait = if retry_after_secs < 60 {
                    let s = retry_after_secs.max(1);
                    format!("{s} second{}", plural(s))
                } else {
                    let m = (retry_after_secs + 59) / 60;
                    format!("{m} minute{}", plural(m))
                };
                let message = format!(
                    "There were too many sign-in attempts from here. Wait {wait} and try again."
                );
                let mut resp = ErrorPage {
                    status: 429,
                    title: "Too many attempts",
                    message: &message,
                    reference: None,
                    back_to_login: true,
                }
                .respond();
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                resp
            }
            Self::PayloadTooLarge => ErrorPage {
                status: 413,
                title: "That upload is too large",
                message: "Nothing was saved. Images for your profile can be up to 2 MB; forms are much smaller.",
                reference: None,
                back_to_login: false,
            }
            .respond(),
            Self::BadRequest(msg) => ErrorPage {
                status: 400,
                title: "That request could not be understood",
                message: &msg,
                reference: None,
                back_to_login: false,
            }
            .respond(),
            Self::Internal(err) if database_unavailable(&err) => {
                let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                tracing::warn!(reference = %reference, error = %format!("{err:#}"), "database unavailable");
                let mut resp = ErrorPage {
                    status: 503,
                    title: "OnTrackio is briefly unavailable",
                    message: "We could not reach our database, so this request was not completed. This usually passes within a minute: try again shortly.",
                    reference: Some(&reference),
                    back_to_login: false,
                }
                .respond();
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                resp
            }
            Self::Internal(err) => {
                let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                tracing::error!(reference = %reference, error = ?err, "request failed");
                ErrorPage {
                    status: 500,
                    title: "Something went wrong",
                    message: "We could not complete this request. Nothing secret was shown. Try again in a moment; if it keeps happening, give your admin this reference.",
                    reference: Some(&reference),
                    back_to_login: false,
                }
                .respond()
            }
        }
    }
}

/// A database outage (stopped, restarting, failing over) anywhere in the error's chain.
fn database_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<sqlx::Error>()
            .is_some_and(crate::store::is_unavailable)
    })
}

/// An error answer the framework wrote itself (an extractor's rejection such as "Failed to
/// deserialize form body…", a body over its limit, a missing `Content-Type`) as plain text:
/// the product's own page instead, with the same status and headers. Every answer of ours
/// is HTML, so only such answers are `text/plain` with an error status.
pub fn replace_framework_error(resp: Response) -> Response {
    let status = resp.status();
    let plain_text = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !status.is_client_error() && !status.is_server_error() || !plain_text {
        return resp;
    }
    let (mut parts, _framework_text) = resp.into_parts();
    let page = match status {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge.into_response(),
        s if s.is_server_error() => {
            tracing::error!(status = %s, "the framework answered with an error");
            AppError::Internal(anyhow::anyhow!("framework error {s}")).into_response()
        }
        _ => ErrorPage {
            status: status.as_u16(),
            title: "That request could not be understood",
            message: "Nothing was changed. Go back, reload the page and try again.",
            reference: None,
            back_to_login: false,
        }
        .respond(),
    };
    let (page_parts, body) = page.into_parts();
    // Keep the framework's status and headers (`Allow`, `Retry-After`…) but the page's type.
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &page_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, body)
}
