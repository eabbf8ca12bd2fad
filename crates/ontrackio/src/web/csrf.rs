//! CSRF: every state-changing request carries a token bound to the session (or, before
//! sign-in, to an anonymous seed cookie) and must not come from another site.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use super::session::CurrentUser;
use super::{AppError, AppState};
use crate::crypto::random_token;
use crate::store::workspaces::Workspace;

pub const FIELD: &str = "csrf_token";

fn seed_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-ontrackio_csrf"
    } else {
        "ontrackio_csrf"
    }
}

/// What a token is bound to: the session if there is one, else the anonymous seed.
fn binding(cu: Option<&CurrentUser>, seed: Option<&str>) -> Option<String> {
    match (cu, seed) {
        (Some(cu), _) => Some(session_binding(&cu.token_hash)),
        (None, Some(seed)) if seed.len() == 43 => Some(format!("anon:{seed}")),
        _ => None,
    }
}

fn session_binding(token_hash: &str) -> String {
    format!("session:{token_hash}")
}

/// The token of a session's forms; `CurrentUser::csrf_token` holds it for every request.
pub fn token_for_session(state: &AppState, token_hash: &str) -> String {
    state.csrf.token_for(&session_binding(token_hash))
}

/// The token for a page's forms, plus a seed cookie to set for an anonymous visitor who
/// has none yet.
pub fn token_for_page(
    state: &AppState,
    cu: Option<&CurrentUser>,
    jar: &CookieJar,
) -> (String, Option<Cookie<'static>>) {
    if let Some(cu) = cu {
        return (cu.csrf_token.to_string(), None);
    }
    let seed = jar
        .get(seed_cookie_name(state.https()))
        .map(|c| c.value().to_string());
    if let Some(b) = binding(cu, seed.as_deref()) {
        return (state.csrf.token_for(&b), None);
    }
    let seed = random_token();
    let cookie = Cookie::build((seed_cookie_name(state.https()), seed.clone()))
        .path("/")
        .http_only(true)
        .secure(state.https())
        .same_site(SameSite::Lax)
        .build();
    (state.csrf.token_for(&format!("anon:{seed}")), Some(cookie))
}

/// `Origin` and `Sec-Fetch-Site`, when the browser sends them, must say "this workspace".
fn same_origin(headers: &HeaderMap, expected_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin == expected_origin,
        None => true,
    }
}

/// The one form another site posts by design: SAML's assertion consumer, which the IdP's
/// page submits (HTTP-POST binding). It carries no token of ours and its `Origin` is the
/// IdP's; what authenticates it is the IdP's signature, and `InResponseTo` with the flow
/// cookie ties it to this browser (`auth::saml::response`).
pub fn is_cross_site_by_protocol(path: &str) -> bool {
    path == crate::auth::saml::authn_request::SpEndpoints::ACS_PATH
}

/// Everything but `GET`, `HEAD` and `OPTIONS`, which must never change anything.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks a state-changing request to a workspace: same origin, and a token bound to the
/// session (or the anonymous seed). Reading the token consumes the body, so the request
/// comes back with the same bytes; `Err` is the refusal page.
pub async fn verify(
    state: &AppState,
    ws: &Workspace,
    cu: Option<&CurrentUser>,
    req: Request,
) -> Result<Request, Response> {
    if !is_state_changing(req.method()) {
        return Ok(req);
    }
    if !same_origin(
        req.headers(),
        &state.config.base_url.workspace_origin(ws.slug.as_str()),
    ) {
        return Err(AppError::Csrf.into_response());
    }
    let seed = super::cookies::value(req.headers(), seed_cookie_name(state.https()));
    let Some(bound) = binding(cu, seed.as_deref()) else {
        return Err(AppError::Csrf.into_response());
    };
    // The token travels in the form body; read it, then hand the same bytes on.
    let (parts, body) = req.into_parts();
    // Capped at the largest body any route accepts; each route's extractor then applies
    // its own, smaller limit.
    let bytes = match axum::body::to_bytes(body, super::my::AVATAR_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return Err(AppError::PayloadTooLarge.into_response()),
    };
    let presented = token_from_body(&parts.headers, &bytes).await;
    if !presented.is_some_and(|t| state.csrf.verify(&bound, &t)) {
        return Err(AppError::Csrf.into_response());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn token_from_body(headers: &HeaderMap, bytes: &Bytes) -> Option<String> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctype.starts_with("application/x-www-form-urlencoded") {
        return form_urlencoded_field(bytes, FIELD);
    }
    if ctype.starts_with("multipart/form-data") {
        // multer directly rather than axum's extractor: the body is already in memory and
        // capped by the caller, and axum's default 2 MB limit would refuse a body that the
        // avatar route itself accepts.
        let boundary = multer::parse_boundary(ctype).ok()?;
        let stream = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(bytes.clone())]);
        let mut mp = multer::Multipart::new(stream, boundary);
        while let Ok(Some(field)) = mp.next_field().await {
            if field.name() == Some(FIELD) {
                return field.text().await.ok();
            }
        }
    }
    None
}

fn form_urlencoded_field(bytes: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    let mut found = pairs.into_iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    let first = found.next()?;
    // Two tokens is a crafted request, not a browser's.
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_requests_are_refused() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "http://acme.localhost:8080"));
        h.insert("origin", "http://acme.localhost:8080".parse().unwrap());
        assert!(same_origin(&h, "http://acme.localhost:8080"));
        h.insert("origin", "http://evil.localhost:8080".parse().unwrap());
        assert!(!same_origin(&h, "http://acme.localhost:8080"));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", "same-site".parse().unwrap());
        assert!(!same_origin(&h, "http://acme.localhost:8080"));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h, "http://acme.localhost:8080"));
    }

    #[test]
    fn the_token_field_is_read_once_from_a_form() {
        assert_eq!(
            form_urlencoded_field(b"a=1&csrf_token=xyz", FIELD),
            Some("xyz".into())
        );
        assert_eq!(
            form_urlencoded_field(b"csrf_token=x&csrf_token=y", FIELD),
            None
        );
        assert_eq!(form_urlencoded_field(b"a=1", FIELD), None);
    }
}
