//! The emulator's few HTML pages, kept small and modelled on Entra's: the account picker, the
//! "trouble signing you in" error page, the `form_post` auto-submit form and the sign-out page.
//! Every interpolated value goes through [`escape`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::errors::{AadError, Trace};

pub(crate) fn escape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// How one provider's pages look: its wordmark, its style sheet and its picker's wording.
pub(crate) struct Look {
    pub brand: &'static str,
    pub style: &'static str,
    /// The picker's `<title>` and `<h1>`.
    pub picker_title: &'static str,
    pub picker_heading: &'static str,
}

/// Entra's pages.
pub(crate) const ENTRA: Look = Look {
    brand: "Microsoft",
    style: "body{font-family:'Segoe UI',Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}\
main{background:#fff;max-width:440px;margin:8vh auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
h1{font-size:24px;font-weight:600;margin:16px 0}.logo{font-weight:600;color:#737373}\
.account{display:block;width:100%;text-align:left;background:none;border:0;border-bottom:1px solid #e6e6e6;padding:12px 4px;cursor:pointer;font:inherit}\
.account:hover,.hinted .account{background:#f2f2f2}.upn{color:#666;font-size:13px}\
.cancel{margin-top:24px;background:#e6e6e6;border:0;padding:6px 20px;font:inherit;cursor:pointer}\
.details{margin-top:24px;font-size:12px;color:#666;white-space:pre-wrap;word-break:break-all}",
    picker_title: "Sign in to your account",
    picker_heading: "Pick an account",
};

/// A page of Entra's.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    styled_page(&ENTRA, status, title, body)
}

/// A page in `look`: never cached, never framed.
pub(crate) fn styled_page(look: &Look, status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{}</style></head>\
<body><main><div class=\"logo\">{}</div>{body}</main></body></html>\n",
        escape(title),
        look.style,
        escape(look.brand),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// One account on the picker.
pub(crate) struct PickerAccount {
    /// What the form posts back as `account`.
    pub oid: String,
    pub display_name: String,
    /// The sign-in name shown under the display name.
    pub upn: String,
    pub hinted: bool,
}

/// "Pick an account": one small form per account, posting back to `action`.
pub(crate) fn account_picker(
    action: &str,
    request_id: &str,
    accounts: &[PickerAccount],
) -> Response {
    styled_picker(&ENTRA, "", action, request_id, accounts)
}

/// The picker in `look`, with `intro` (already HTML) under the heading.
pub(crate) fn styled_picker(
    look: &Look,
    intro: &str,
    action: &str,
    request_id: &str,
    accounts: &[PickerAccount],
) -> Response {
    let mut body = format!("<h1>{}</h1>{intro}", escape(look.picker_heading));
    for account in accounts {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{action}\"{class}><input type=\"hidden\" name=\"request\" value=\"{request}\">\
<input type=\"hidden\" name=\"account\" value=\"{oid}\"><button class=\"account\" type=\"submit\">\
<div>{name}</div><div class=\"upn\">{upn}</div></button></form>",
            action = escape(action),
            class = if account.hinted { " class=\"hinted\"" } else { "" },
            request = escape(request_id),
            oid = escape(&account.oid),
            name = escape(&account.display_name),
            upn = escape(&account.upn),
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"request\" value=\"{request}\">\
<button class=\"cancel\" type=\"submit\" name=\"cancel\" value=\"1\">Cancel</button></form>",
        action = escape(action),
        request = escape(request_id),
    ));
    styled_page(look, StatusCode::OK, look.picker_title, &body)
}

/// The opaque request id in an account-picker page, for clients scripting the picker: post it
/// back as `request` with `account=<oid>` or `login_hint=<upn>` to
/// `{authority}/{tenant}/oauth2/v2.0/authorize/select`.
pub fn picker_request_id(html: &str) -> Option<String> {
    let marker = "name=\"request\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// Entra's own error page for errors it must not send to an untrusted redirect URI.
///
/// Served with 200, as login.microsoftonline.com serves its error page: the browser is shown
/// a page, never redirected.
pub(crate) fn error_page(error: &AadError, trace: &Trace) -> Response {
    let body = format!(
        "<h1>Sorry, but we're having trouble signing you in.</h1><p id=\"message\">{message}</p>\
<div class=\"details\">Troubleshooting details\nRequest Id: {trace_id}\nCorrelation Id: {correlation}\n\
Timestamp: {timestamp}\nMessage: {message}</div>",
        message = escape(&error.message),
        trace_id = trace.trace_id,
        correlation = trace.correlation_id,
        timestamp = escape(&trace.timestamp),
    );
    page(StatusCode::OK, "Sign in to your account", &body)
}

/// `response_mode=form_post`: a page that posts the parameters to the redirect URI.
pub(crate) fn form_post(action: &str, params: &[(&str, String)]) -> Response {
    let inputs: String = params
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect();
    let html = format!(
        "<!DOCTYPE html>\n<html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\">\
<form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p>\
<input type=\"submit\" value=\"Submit\"></noscript></form></body></html>\n",
        escape(action)
    );
    let mut response = (StatusCode::OK, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

pub(crate) fn signed_out() -> Response {
    page(
        StatusCode::OK,
        "Sign out",
        "<h1>You signed out of your account</h1><p>It’s a good idea to close all browser windows.</p>",
    )
}

pub(crate) fn error_code_page(code: &str, text: Option<&str>) -> Response {
    let body = format!(
        "<h1>Error {}</h1><p>{}</p>",
        escape(code),
        escape(text.unwrap_or("This error code is not in the emulator's catalogue."))
    );
    page(StatusCode::OK, "Error code lookup", &body)
}
