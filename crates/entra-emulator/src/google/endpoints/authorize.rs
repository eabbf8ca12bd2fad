//! `/o/oauth2/v2/auth` (spec §2) and the account picker behind it.
//!
//! As at Google, a request that is wrong in itself is answered on Google's own page (never a
//! redirect): unknown client, unregistered redirect URI, missing or invalid parameters. Only
//! the user's answer goes back to the app: a code, or `access_denied` when they cancel.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;

use super::SELECT_PATH;
use crate::endpoints::authorize::{Pkce, PkceProblem, Reply, ResponseMode};
use crate::google::directory::{GoogleAccount, GoogleDirectory};
use crate::google::html::{self, PageError};
use crate::google::misbehaviour::GoogleEndpoint;
use crate::google::state::{Code, GoogleState, Request};
use crate::google::tokens::{is_known_scope, redirect_scope};
use crate::html::PickerAccount;
use crate::util::{field, parse_form, random_b64url};

pub(crate) async fn authorize(
    State(state): State<GoogleState>,
    RawQuery(query): RawQuery,
) -> Response {
    state.delay(GoogleEndpoint::Authorize).await;
    let Some(pairs) = parse_form(query.unwrap_or_default().as_bytes()) else {
        return PageError::invalid("Invalid request.").into_response();
    };
    state.remember_authorize(&pairs);
    let request = match validate(&state.directory.read(), &pairs) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let (hinted, auto_choice) = {
        let directory = state.directory.read();
        let by_hint = |hint: &str| directory.account_by_hint(hint).map(|a| a.sub.clone());
        let hint = request.login_hint.as_deref();
        (
            hint.and_then(by_hint),
            state.auto_select.choose(hint, by_hint),
        )
    };
    if let Some(sub) = auto_choice {
        return complete(&state, request, &sub);
    }
    // The emulator keeps no browser session, so nothing can be signed in without a page.
    if request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|v| v == "none"))
    {
        return reply(&request).send(vec![("error", "interaction_required".to_owned())]);
    }
    picker(&state, request, hinted)
}

fn reply(request: &Request) -> Reply<'_> {
    Reply {
        redirect_uri: &request.redirect_uri,
        mode: ResponseMode::Query,
        state: request.state.as_deref(),
    }
}

/// Checks the request in Google's order; every failure is a page.
fn validate(directory: &GoogleDirectory, pairs: &[(String, String)]) -> Result<Request, PageError> {
    let Some(client_id) = field(pairs, "client_id") else {
        return Err(PageError::missing("client_id"));
    };
    let Some(client) = directory.client(client_id) else {
        return Err(PageError::client_not_found());
    };
    let Some(redirect_uri) = field(pairs, "redirect_uri") else {
        return Err(PageError::missing("redirect_uri"));
    };
    // Exact, case-sensitive: scheme, host, port, path and query must all match.
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(PageError::redirect_uri_mismatch(redirect_uri));
    }
    match field(pairs, "response_type") {
        None => return Err(PageError::missing("response_type")),
        Some("code") => {}
        Some(other) => return Err(PageError::unsupported_response_type(other)),
    }
    let Some(scope) = field(pairs, "scope") else {
        return Err(PageError::missing("scope"));
    };
    let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
    let invalid: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !is_known_scope(s))
        .collect();
    if !invalid.is_empty() {
        return Err(PageError::invalid_scope(&invalid));
    }
    let prompt = field(pairs, "prompt");
    if let Some(prompt) = prompt {
        let values: Vec<&str> = prompt.split(' ').collect();
        let bad = values
            .iter()
            .find(|v| !matches!(**v, "none" | "consent" | "select_account"));
        if let Some(bad) = bad {
            return Err(PageError::invalid(format!(
                "Invalid parameter value for prompt: Invalid prompt: {bad}"
            )));
        }
        if values.len() > 1 && values.contains(&"none") {
            return Err(PageError::invalid(
                "Invalid parameter value for prompt: Invalid prompt: none cannot be combined with other values",
            ));
        }
    }
    let pkce = Pkce::from_request(
        field(pairs, "code_challenge"),
        field(pairs, "code_challenge_method"),
    )
    .map_err(|problem| match problem {
        PkceProblem::Method => PageError::invalid("Invalid code_challenge_method value."),
        PkceProblem::Length => PageError::invalid("Invalid code_challenge value."),
    })?;
    Ok(Request {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: field(pairs, "state").map(str::to_owned),
        nonce: field(pairs, "nonce").map(str::to_owned),
        pkce,
        login_hint: field(pairs, "login_hint").map(str::to_owned),
        hd: field(pairs, "hd").map(str::to_owned),
        prompt: prompt.map(str::to_owned),
    })
}

/// Whether the picker lists `account` for the request's `hd` hint: `*` lists Workspace
/// accounts, a domain lists that organisation's.
fn matches_hd(account: &GoogleAccount, hd: Option<&str>) -> bool {
    match hd {
        None => true,
        Some("*") => account.is_workspace(),
        Some(domain) => account
            .hd
            .as_deref()
            .is_some_and(|hd| hd.eq_ignore_ascii_case(domain)),
    }
}

fn picker(state: &GoogleState, request: Request, hinted: Option<String>) -> Response {
    let (accounts, app_name) = {
        let directory = state.directory.read();
        let entry = |a: &GoogleAccount| PickerAccount {
            oid: a.sub.clone(),
            display_name: a.display_name().to_owned(),
            upn: a.email.clone(),
            hinted: Some(&a.sub) == hinted.as_ref(),
        };
        // `hd` only narrows the list (falling back to everyone); any account may still be
        // posted back, as at Google, where the page is the client's to change.
        let mut accounts: Vec<PickerAccount> = directory
            .accounts
            .iter()
            .filter(|a| matches_hd(a, request.hd.as_deref()))
            .map(entry)
            .collect();
        if accounts.is_empty() {
            accounts = directory.accounts.iter().map(entry).collect();
        }
        accounts.sort_by_key(|a| !a.hinted);
        let app_name = directory
            .client(&request.client_id)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        (accounts, app_name)
    };
    let action = format!("{}{SELECT_PATH}", state.base_url);
    let request_id = state.pending.park(request, state.now());
    html::picker(&app_name, &action, &request_id, &accounts)
}

/// `POST /o/oauth2/v2/auth/select`: the picker's answer. Fields: `request`, and `account`
/// (the `sub`) or `login_hint` (the email or `sub`), or `cancel`.
pub(crate) async fn select(State(state): State<GoogleState>, body: Bytes) -> Response {
    state.delay(GoogleEndpoint::Authorize).await;
    let pairs = parse_form(&body).unwrap_or_default();
    let pending = field(&pairs, "request").and_then(|id| state.pending.take(id));
    let Some(request) = pending else {
        return PageError::missing("request").into_response();
    };
    if field(&pairs, "cancel").is_some() {
        return reply(&request).send(vec![("error", "access_denied".to_owned())]);
    }
    let chosen = {
        let directory = state.directory.read();
        let by_sub = field(&pairs, "account").and_then(|sub| directory.account(sub));
        let by_hint = field(&pairs, "login_hint").and_then(|h| directory.account_by_hint(h));
        by_sub.or(by_hint).map(|a| a.sub.clone())
    };
    match chosen {
        Some(sub) => complete(&state, request, &sub),
        None => PageError::missing("account").into_response(),
    }
}

/// The account is chosen: issue a code and send it back with Google's other parameters.
fn complete(state: &GoogleState, request: Request, sub: &str) -> Response {
    let hd = state
        .directory
        .read()
        .account(sub)
        .and_then(|a| a.hd.clone());
    // Google's codes look like `4/0AVMBsJi…`: the `/` reaches the app percent-encoded.
    let code = format!("4/0A{}", random_b64url(52));
    let mut params = vec![
        ("code", code.clone()),
        ("scope", redirect_scope(&request.scopes)),
        ("authuser", "0".to_owned()),
    ];
    if let Some(hd) = hd {
        params.push(("hd", hd));
    }
    let consented = request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|v| v == "consent"));
    params.push((
        "prompt",
        if consented { "consent" } else { "none" }.to_owned(),
    ));
    let response = reply(&request).send(params);
    let grant = Code {
        request,
        sub: sub.to_owned(),
        issued: state.now(),
        redeemed: false,
    };
    state.keep_code(code, grant);
    response
}
