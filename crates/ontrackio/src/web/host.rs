//! A request's workspace comes from its `Host` alone (`<slug>.<base domain>`, any port).
//! `X-Forwarded-Host` is never read: a proxy that rewrites Host must be configured to
//! pass the original one through.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::{AppError, AppState};
use crate::store::workspaces::Workspace;

const BAD_HOST: &str = "The address this request was sent to is not valid. Check the link, or type your workspace's address again.";

/// Which site a request is for.
#[derive(Clone)]
pub enum Site {
    /// The bare base domain: the "find your workspace" page.
    Root,
    Workspace(Arc<Workspace>),
}

/// The part of a `Host` header before the port, lower-cased.
pub fn host_without_port(host: &str) -> Option<String> {
    let host = host.trim();
    if host.is_empty() || host.len() > 255 {
        return None;
    }
    let name = if host.starts_with('[') {
        // IPv6 literals never name a workspace.
        return None;
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            Some(_) => return None,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        .then_some(name)
}

/// A `Host` that names neither the base domain nor one of its workspaces.
#[derive(Debug, PartialEq, Eq)]
pub struct ForeignHost;

/// `acme` for `acme.localhost` under base domain `localhost`; `Ok(None)` for the base
/// domain itself; `Err` for anything else.
pub fn slug_of(host: &str, base_domain: &str) -> Result<Option<String>, ForeignHost> {
    let name = host_without_port(host).ok_or(ForeignHost)?;
    if name == base_domain {
        return Ok(None);
    }
    let label = name
        .strip_suffix(base_domain)
        .and_then(|s| s.strip_suffix('.'))
        .ok_or(ForeignHost)?;
    if label.is_empty() || label.contains('.') {
        return Err(ForeignHost);
    }
    Ok(Some(label.to_string()))
}

/// A request whose `Host` no server could answer (RFC 9112 §3.2: a request with no Host,
/// or more than one, or an invalid one, gets 400): a missing or repeated header, or a port
/// that is not a number.
pub fn malformed_host(headers: &HeaderMap) -> bool {
    let mut hosts = headers.get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return true;
    };
    if host.trim().is_empty() {
        return true;
    }
    // An IPv6 literal's colons are inside its brackets; a port follows the last colon.
    let after_literal = host.rsplit_once(']').map_or(host, |(_, rest)| rest);
    match after_literal.rsplit_once(':') {
        Some((_, port)) => !port.chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// Which site the request's `Host` names; `Err` is the page to answer instead.
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Site, Response> {
    if malformed_host(headers) {
        return Err(AppError::BadRequest(BAD_HOST.into()).into_response());
    }
    match slug_of(host_header(headers), state.config.base_url.domain()) {
        Ok(None) => Ok(Site::Root),
        // Cached: a sign-in is three requests and each would otherwise begin with a query.
        Ok(Some(slug)) => match state.workspaces.get(&state.db, &slug).await {
            Ok(Some(ws)) => Ok(Site::Workspace(ws)),
            Ok(None) => Err(AppError::NotFound.into_response()),
            Err(e) => Err(AppError::from(e).into_response()),
        },
        Err(ForeignHost) => Err(AppError::NotFound.into_response()),
    }
}

/// [`resolve`] when the answer is a site known without the database; `None` otherwise
/// (a workspace not in the cache, or a refusal: [`resolve`] then decides).
pub fn resolve_cached(state: &AppState, headers: &HeaderMap) -> Option<Site> {
    if malformed_host(headers) {
        return None;
    }
    match slug_of(host_header(headers), state.config.base_url.domain()) {
        Ok(None) => Some(Site::Root),
        Ok(Some(slug)) => state.workspaces.cached(&slug).map(Site::Workspace),
        Err(ForeignHost) => None,
    }
}

fn host_header(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

/// The request's workspace; routes that need one answer 404 on the bare domain.
#[derive(Clone)]
pub struct CurrentWorkspace(pub Arc<Workspace>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentWorkspace {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        match parts.extensions.get::<Site>() {
            Some(Site::Workspace(ws)) => Ok(Self(ws.clone())),
            _ => Err(AppError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_repeated_or_badly_ported_host_is_malformed() {
        let headers = |hosts: &[&str]| {
            let mut h = HeaderMap::new();
            for v in hosts {
                h.append(header::HOST, v.parse().unwrap());
            }
            h
        };
        for good in [
            "acme.localhost:8080",
            "acme.localhost",
            "acme.localhost:",
            "[::1]:8080",
        ] {
            assert!(!malformed_host(&headers(&[good])), "{good}");
        }
        for bad in [
            &[][..],
            &["acme.localhost", "evil.localhost"][..],
            &["acme.localhost:80x"][..],
            &["acme.localhost:http"][..],
            &[" "][..],
        ] {
            assert!(malformed_host(&headers(bad)), "{bad:?}");
        }
    }

    #[test]
    fn hosts_map_to_workspace_slugs() {
        let base = "localhost";
        assert_eq!(
            slug_of("acme.localhost:8080", base),
            Ok(Some("acme".into()))
        );
        assert_eq!(slug_of("ACME.localhost", base), Ok(Some("acme".into())));
        assert_eq!(slug_of("acme.localhost.:9", base), Ok(Some("acme".into())));
        assert_eq!(slug_of("localhost:8080", base), Ok(None));
        assert_eq!(slug_of("a.b.localhost", base), Err(ForeignHost));
        assert_eq!(slug_of("evil.test", base), Err(ForeignHost));
        assert_eq!(slug_of("acmelocalhost", base), Err(ForeignHost));
        assert_eq!(slug_of("", base), Err(ForeignHost));
        assert_eq!(slug_of("[::1]:8080", base), Err(ForeignHost));
        assert_eq!(slug_of("acme.localhost:80x", base), Err(ForeignHost));
        assert_eq!(slug_of("acme.localhost/x", base), Err(ForeignHost));
        let base = "app.ontrackio.com";
        assert_eq!(
            slug_of("acme.app.ontrackio.com", base),
            Ok(Some("acme".into()))
        );
        assert_eq!(
            slug_of("acme.evil-app.ontrackio.com", base),
            Err(ForeignHost)
        );
    }
}
