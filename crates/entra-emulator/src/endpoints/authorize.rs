//! `/{tenant}/oauth2/v2.0/authorize` (spec §2) and the account picker behind it.
//!
//! Order matters, as at Entra: until the client and its redirect URI are trusted, every error
//! is shown on Entra's own page (90002, 700016, 50011); after that, errors go back to the app
//! as a redirect — except those about the account itself (50020, 50057), shown on the page.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::directory::{Directory, is_loopback_host};
use crate::errors::{AadError, Trace};
use crate::html::{self, PickerAccount};
use crate::misbehaviour::Endpoint;
use crate::state::{AppState, AuthCode, Authority, resolve_principal};
use crate::tokens::parse_scopes;
use crate::util::{cookie, field, parse_form, random_b64url, strip_html};

/// The cookie that remembers who signed in, so a later request without `prompt` is SSO.
pub(crate) const SESSION_COOKIE: &str = "ESTSAUTH";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PkceMethod {
    S256,
    Plain,
}

#[derive(Debug, Clone)]
pub(crate) struct Pkce {
    pub challenge: String,
    pub method: PkceMethod,
}

/// Why a PKCE challenge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PkceProblem {
    /// `code_challenge_method` is neither `S256` nor `plain`.
    Method,
    /// The challenge is not 43–128 characters long (RFC 7636 §4.2).
    Length,
}

impl Pkce {
    /// The challenge of an authorize request, if it sent one; the method defaults to `plain`.
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Pkce>, PkceProblem> {
        let Some(challenge) = challenge else {
            return Ok(None);
        };
        let method = match method {
            None | Some("plain") => PkceMethod::Plain,
            Some("S256") => PkceMethod::S256,
            Some(_) => return Err(PkceProblem::Method),
        };
        if !(43..=128).contains(&challenge.len()) {
            return Err(PkceProblem::Length);
        }
        Ok(Some(Pkce {
            challenge: challenge.to_owned(),
            method,
        }))
    }

    /// Whether `verifier` answers the challenge; an empty verifier never does.
    pub fn verify(&self, verifier: &str) -> bool {
        let computed = match self.method {
            PkceMethod::S256 => crate::util::sha256_b64url(verifier.as_bytes()),
            PkceMethod::Plain => verifier.to_owned(),
        };
        !verifier.is_empty()
            && crate::util::constant_time_eq(computed.as_bytes(), self.challenge.as_bytes())
    }
}

/// An authorize request that passed validation.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeRequest {
    /// The `{tenant}` segment as called, for the picker's form action.
    pub segment: String,
    pub authority: Authority,
    pub client_id: Uuid,
    /// The `redirect_uri` the token request must repeat.
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub pkce: Option<Pkce>,
    pub login_hint: Option<String>,
    pub prompt: Option<String>,
}

pub(crate) async fn authorize_get(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = parse_form(query.unwrap_or_default().as_bytes());
    authorize(state, segment, pairs, headers).await
}

/// Entra also takes the authorize parameters as a form POST.
pub(crate) async fn authorize_post(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(state, segment, parse_form(&body), headers).await
}

/// Where an answer goes once the redirect URI is trusted.
pub(crate) struct Reply<'a> {
    pub redirect_uri: &'a str,
    pub mode: ResponseMode,
    pub state: Option<&'a str>,
}

impl Reply<'_> {
    /// The answer with `params` (and `state`, appended last).
    pub fn send(&self, mut params: Vec<(&'static str, String)>) -> Response {
        if let Some(state) = self.state {
            params.push(("state", state.to_owned()));
        }
        match self.mode {
            ResponseMode::FormPost => html::form_post(self.redirect_uri, &params),
            ResponseMode::Query | ResponseMode::Fragment => {
                // `Url` adds the trailing `/` Entra adds to a path-less redirect URI.
                let Ok(mut url) = url::Url::parse(self.redirect_uri) else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                if self.mode == ResponseMode::Query {
                    url.query_pairs_mut()
                        .extend_pairs(params.iter().map(|(k, v)| (*k, v)));
                } else {
                    let fragment = serde_urlencoded::to_string(&params).unwrap_or_default();
                    url.set_fragment(Some(&fragment));
                }
                let mut response = StatusCode::FOUND.into_response();
                if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                response
            }
        }
    }

    fn error(&self, error: &AadError, trace: &Trace) -> Response {
        let mut params = vec![("error", error.error.to_owned())];
        if let Some(subcode) = error.subcode {
            params.push(("error_subcode", subcode.to_owned()));
        }
        params.push(("error_description", trace.describe(error)));
        self.send(params)
    }
}

/// Exact, case-sensitive match, except that the port of a `localhost`/`127.0.0.1` URI is
/// ignored (Microsoft's loopback rule).
fn redirect_uri_registered(registered: &[String], sent: &str) -> bool {
    if registered.iter().any(|r| r == sent) {
        return true;
    }
    let Ok(sent_url) = url::Url::parse(sent) else {
        return false;
    };
    let port_free_loopback = |u: &url::Url| matches!(u.host_str(), Some("localhost" | "127.0.0.1"));
    if !port_free_loopback(&sent_url) {
        return false;
    }
    registered
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| {
            port_free_loopback(&r)
                && r.scheme() == sent_url.scheme()
                && r.host_str() == sent_url.host_str()
                && r.path() == sent_url.path()
                && r.query() == sent_url.query()
        })
}

async fn authorize(
    state: AppState,
    segment: String,
    pairs: Option<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    state.delay(Endpoint::Authorize).await;
    let trace = state.trace(&headers);
    let page = |error: AadError| html::error_page(&error, &trace);
    let pairs = match pairs {
        Some(pairs) => pairs,
        None => return page(AadError::malformed_grant()),
    };
    let request = {
        let directory = state.directory.read();
        match validate(&directory, &segment, &pairs, &trace) {
            Ok(request) => request,
            Err(response) => return *response,
        }
    };

    let (hinted, auto_choice, session_user) = {
        let directory = state.directory.read();
        let by_upn = |upn: &str| {
            directory
                .home_accounts()
                .find(|(_, u)| u.user_principal_name.eq_ignore_ascii_case(upn))
                .map(|(_, u)| u.id)
        };
        let hinted = request.login_hint.as_deref().and_then(by_upn);
        let auto_choice = state
            .auto_select
            .choose(request.login_hint.as_deref(), by_upn);
        let session_user = cookie(&headers, SESSION_COOKIE)
            .and_then(|sid| state.sessions.lock().get(sid).copied())
            .filter(|oid| directory.locate(*oid).is_some());
        (hinted, auto_choice, session_user)
    };
    // A session for someone else than the hinted account is no SSO.
    let sso_user = session_user.filter(|oid| hinted.is_none_or(|h| h == *oid));

    if let Some(oid) = auto_choice {
        return complete(&state, request, oid, &headers, &trace);
    }
    match request.prompt.as_deref() {
        Some("none") => match sso_user {
            Some(oid) => complete(&state, request, oid, &headers, &trace),
            None => {
                let reply = Reply {
                    redirect_uri: &request.redirect_uri,
                    mode: request.response_mode,
                    state: request.state.as_deref(),
                };
                reply.error(&AadError::login_required(), &trace)
            }
        },
        Some("select_account" | "login") => picker(&state, request, hinted),
        _ => match sso_user {
            Some(oid) => complete(&state, request, oid, &headers, &trace),
            None => picker(&state, request, hinted),
        },
    }
}

/// Checks the request in Entra's order, answering with a page or a redirect on failure.
fn validate(
    directory: &Directory,
    segment: &str,
    pairs: &[(String, String)],
    trace: &Trace,
) -> Result<AuthorizeRequest, Box<Response>> {
    let page = |error: AadError| Box::new(html::error_page(&error, trace));
    let Some(authority) = Authority::resolve(directory, segment) else {
        return Err(page(AadError::tenant_not_found(segment)));
    };
    let Some(client_id) = field(pairs, "client_id") else {
        return Err(page(AadError::missing_parameter("client_id")));
    };
    let app = match directory.app(client_id) {
        Some(app) if authority.admits_app(app) => app,
        _ => {
            let label = authority.directory_label(directory, segment);
            return Err(page(AadError::app_not_found(client_id, &label)));
        }
    };
    // Entra picks a registered URI itself when none is sent.
    let redirect_uri = match field(pairs, "redirect_uri") {
        Some(uri) => uri.to_owned(),
        None => match app.redirect_uris.first() {
            Some(uri) => uri.clone(),
            None => return Err(page(AadError::no_reply_address())),
        },
    };
    if !redirect_uri_registered(&app.redirect_uris, &redirect_uri) {
        return Err(page(AadError::redirect_uri_mismatch(
            &redirect_uri,
            app.client_id,
        )));
    }

    // From here on the redirect URI is trusted: errors go back to the app.
    let state = field(pairs, "state").map(strip_html);
    let mode = match field(pairs, "response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("fragment") => Ok(ResponseMode::Fragment),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err(()),
    };
    let reply = Reply {
        redirect_uri: &redirect_uri,
        mode: mode.unwrap_or(ResponseMode::Query),
        state: state.as_deref(),
    };
    let redirect = |error: AadError| Box::new(reply.error(&error, trace));
    let Ok(response_mode) = mode else {
        return Err(redirect(AadError::invalid_parameter("response_mode")));
    };
    match field(pairs, "response_type") {
        None => return Err(redirect(AadError::missing_parameter("response_type"))),
        Some("code") => {}
        Some(other) => return Err(redirect(AadError::response_type_not_enabled(other))),
    }
    let Some(scope) = field(pairs, "scope") else {
        return Err(redirect(AadError::missing_parameter("scope")));
    };
    let pkce = match Pkce::from_request(
        field(pairs, "code_challenge"),
        field(pairs, "code_challenge_method"),
    ) {
        Ok(pkce) => pkce,
        Err(PkceProblem::Method) => {
            return Err(redirect(AadError::invalid_parameter(
                "code_challenge_method",
            )));
        }
        Err(PkceProblem::Length) => return Err(redirect(AadError::code_challenge_size())),
    };
    Ok(AuthorizeRequest {
        segment: segment.to_owned(),
        authority,
        client_id: app.client_id,
        redirect_uri: redirect_uri.clone(),
        response_mode,
        scopes: parse_scopes(scope),
        state: state.clone(),
        nonce: field(pairs, "nonce").map(str::to_owned),
        pkce,
        login_hint: field(pairs, "login_hint").map(str::to_owned),
        prompt: field(pairs, "prompt").map(str::to_owned),
    })
}

fn picker(state: &AppState, request: AuthorizeRequest, hinted: Option<Uuid>) -> Response {
    let accounts: Vec<PickerAccount> = {
        let directory = state.directory.read();
        let mut accounts: Vec<PickerAccount> = directory
            .home_accounts()
            .map(|(_, u)| PickerAccount {
                oid: u.id.to_string(),
                display_name: u.display_name.clone(),
                upn: u.user_principal_name.clone(),
                hinted: Some(u.id) == hinted,
            })
            .collect();
        // The hinted account comes first, as Entra prefills it.
        accounts.sort_by_key(|a| !a.hinted);
        accounts
    };
    let action = format!(
        "{}/{}/oauth2/v2.0/authorize/select",
        state.base_url, request.segment
    );
    let request_id = state.pending.park(request, state.now());
    html::account_picker(&action, &request_id, &accounts)
}

/// `POST /{tenant}/oauth2/v2.0/authorize/select`: the picker's answer. Fields: `request`, and
/// `account` (object id) or `login_hint` (UPN), or `cancel`.
pub(crate) async fn select(
    State(state): State<AppState>,
    Path(_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.delay(Endpoint::Authorize).await;
    let trace = state.trace(&headers);
    let pairs = parse_form(&body).unwrap_or_default();
    let pending = field(&pairs, "request").and_then(|id| state.pending.take(id));
    let Some(request) = pending else {
        return html::error_page(&AadError::missing_parameter("request"), &trace);
    };
    if field(&pairs, "cancel").is_some() {
        let reply = Reply {
            redirect_uri: &request.redirect_uri,
            mode: request.response_mode,
            state: request.state.as_deref(),
        };
        return reply.error(&AadError::user_cancelled(), &trace);
    }
    let chosen = {
        let directory = state.directory.read();
        let by_oid = field(&pairs, "account").and_then(|a| Uuid::parse_str(a).ok());
        let by_upn = field(&pairs, "login_hint").and_then(|hint| {
            directory
                .home_accounts()
                .find(|(_, u)| u.user_principal_name.eq_ignore_ascii_case(hint))
                .map(|(_, u)| u.id)
        });
        by_oid
            .or(by_upn)
            .filter(|oid| directory.home_accounts().any(|(_, u)| u.id == *oid))
    };
    match chosen {
        Some(oid) => complete(&state, request, oid, &headers, &trace),
        None => html::error_page(&AadError::missing_parameter("account"), &trace),
    }
}

/// The account is chosen: check it may use the app here, then send the code back.
fn complete(
    state: &AppState,
    request: AuthorizeRequest,
    home_user: Uuid,
    headers: &HeaderMap,
    trace: &Trace,
) -> Response {
    let principal = {
        let directory = state.directory.read();
        let Some(app) = directory
            .apps
            .iter()
            .find(|a| a.client_id == request.client_id)
        else {
            let id = request.client_id.to_string();
            return html::error_page(&AadError::app_not_found(&id, &request.segment), trace);
        };
        match resolve_principal(&directory, request.authority, app, home_user) {
            Ok(principal) => principal,
            Err(error) => return html::error_page(&error, trace),
        }
    };
    let code = format!("1.A{}", random_b64url(256));
    let reply_params = vec![("code", code.clone())];
    let reply_uri = request.redirect_uri.clone();
    let reply_mode = request.response_mode;
    let reply_state = request.state.clone();
    state.prune();
    state.codes.lock().insert(
        code,
        AuthCode {
            request,
            principal,
            issued: state.now(),
            redeemed: false,
        },
    );
    let reply = Reply {
        redirect_uri: &reply_uri,
        mode: reply_mode,
        state: reply_state.as_deref(),
    };
    let mut response = reply.send(reply_params);
    let existing = cookie(headers, SESSION_COOKIE)
        .filter(|sid| state.sessions.lock().get(*sid) == Some(&home_user))
        .map(str::to_owned);
    if existing.is_none() {
        let sid = random_b64url(32);
        state.sessions.lock().insert(sid.clone(), home_user);
        let cookie = format!("{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Forgets the browser's session (logout).
pub(crate) fn end_session(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    if let Some(sid) = cookie(headers, SESSION_COOKIE) {
        state.sessions.lock().remove(sid);
    }
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Max-Age=0")).ok()
}

/// Whether `uri` may receive a post-logout redirect for `client` (any app when `None`).
pub(crate) fn logout_target_allowed(
    directory: &Directory,
    client: Option<&str>,
    uri: &str,
) -> bool {
    let apps: Vec<_> = match client {
        Some(id) => directory.app(id).into_iter().collect(),
        None => directory.apps.iter().collect(),
    };
    apps.iter()
        .any(|app| redirect_uri_registered(&app.redirect_uris, uri))
        && url::Url::parse(uri)
            .is_ok_and(|u| u.scheme() == "https" || u.host_str().is_some_and(is_loopback_host))
}
