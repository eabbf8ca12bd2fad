//! The Google emulator's pages, modelled on accounts.google.com: "Choose an account" and the
//! "Access blocked" error page. Built with the crate's shared page and picker code.

use axum::http::StatusCode;
use axum::response::Response;

use crate::html::{Look, PickerAccount, escape, styled_page, styled_picker};

const GOOGLE: Look = Look {
    brand: "Google",
    style: "body{font-family:'Google Sans',Roboto,Arial,sans-serif;background:#f0f4f9;margin:0;color:#1f1f1f}\
main{background:#fff;max-width:448px;margin:8vh auto;padding:36px 40px;border-radius:28px}\
h1{font-size:28px;font-weight:400;margin:16px 0 8px}.logo{font-size:22px;color:#4285f4}\
.intro{margin:0 0 24px}.account{display:block;width:100%;text-align:left;background:none;border:0;border-bottom:1px solid #e0e0e0;padding:12px 4px;cursor:pointer;font:inherit}\
.account:hover,.hinted .account{background:#f0f4f9}.upn{color:#444746;font-size:13px}\
.cancel{margin-top:24px;background:none;color:#0b57d0;border:0;padding:6px 0;font:inherit;cursor:pointer}\
.code{font-weight:500}.details{margin-top:24px;font-size:13px;color:#444746;white-space:pre-wrap;word-break:break-all}",
    picker_title: "Sign in - Google Accounts",
    picker_heading: "Choose an account",
};

/// "Choose an account … to continue to {app}".
pub(crate) fn picker(
    app_name: &str,
    action: &str,
    request_id: &str,
    accounts: &[PickerAccount],
) -> Response {
    let intro = format!(
        "<p class=\"intro\">to continue to <b>{}</b></p>",
        escape(app_name)
    );
    styled_picker(&GOOGLE, &intro, action, request_id, accounts)
}

/// An error Google shows on its own page instead of redirecting to the app.
#[derive(Debug, Clone)]
pub(crate) struct PageError {
    pub status: StatusCode,
    /// The OAuth `error` value: `redirect_uri_mismatch`, `invalid_client`, `invalid_request`…
    pub error: &'static str,
    pub heading: &'static str,
    pub message: String,
    /// Shown as "Request details: name=value …".
    pub details: Vec<(&'static str, String)>,
}

const AUTHORIZATION_ERROR: &str = "Access blocked: Authorization Error";

impl PageError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        PageError {
            status,
            error,
            heading: AUTHORIZATION_ERROR,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn missing(parameter: &str) -> Self {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("Missing required parameter: {parameter}"),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        PageError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn client_not_found() -> Self {
        PageError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        )
    }

    pub fn redirect_uri_mismatch(redirect_uri: &str) -> Self {
        PageError {
            heading: "Access blocked: This app\u{2019}s request is invalid",
            details: vec![("redirect_uri", redirect_uri.to_owned())],
            ..PageError::new(
                StatusCode::BAD_REQUEST,
                "redirect_uri_mismatch",
                "You can\u{2019}t sign in to this app because it doesn\u{2019}t comply with Google\u{2019}s OAuth 2.0 policy.\n\nIf you\u{2019}re the app developer, register the redirect URI in the Google Cloud Console.",
            )
        }
    }

    pub fn unsupported_response_type(response_type: &str) -> Self {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            format!("Invalid response_type: {response_type}"),
        )
    }

    pub fn invalid_scope(invalid: &[&str]) -> Self {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "Some requested scopes were invalid. {{invalid=[{}]}}",
                invalid.join(", ")
            ),
        )
    }

    /// "Error 400: redirect_uri_mismatch".
    pub fn code_line(&self) -> String {
        format!("Error {}: {}", self.status.as_u16(), self.error)
    }

    pub fn into_response(self) -> Response {
        let mut details = String::new();
        if !self.details.is_empty() {
            let pairs: Vec<String> = self
                .details
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            details = format!(
                "<div class=\"details\">Request details: {}</div>",
                escape(&pairs.join(" "))
            );
        }
        let body = format!(
            "<h1>{heading}</h1><p id=\"message\">{message}</p><p class=\"code\">{code}</p>{details}",
            heading = escape(self.heading),
            message = escape(&self.message).replace('\n', "<br>"),
            code = escape(&self.code_line()),
        );
        styled_page(&GOOGLE, self.status, &self.code_line(), &body)
    }
}
