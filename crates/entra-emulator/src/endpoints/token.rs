//! `/{tenant}/oauth2/v2.0/token` (spec §3): the authorization-code, refresh-token and
//! client-credentials grants, with Entra's JSON errors.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use crate::directory::AppRegistration;
use crate::endpoints::{json, oversized_body};
use crate::errors::{AadError, token_error};
use crate::misbehaviour::{Endpoint, Misbehaviour};
use crate::state::{AppState, Authority, Principal};
use crate::tokens::{
    TokenResponse, UserTokenInput, access_token, access_token_lifetime, is_graph_default_scope,
    parse_scopes, user_token_response,
};
use crate::util::{constant_time_eq, field, parse_form};

/// The client's credentials, from the body or the `Authorization: Basic` header.
pub(crate) struct Credentials {
    pub client_id: Option<String>,
    pub secret: Option<String>,
}

pub(crate) fn credentials(headers: &HeaderMap, pairs: &[(String, String)]) -> Credentials {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            // RFC 6749 §2.3.1: both halves are form-urlencoded before joining.
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
            };
            Some((decode(id)?, decode(secret)?))
        });
    match basic {
        Some((id, secret)) => Credentials {
            client_id: Some(id),
            secret: Some(secret),
        },
        None => Credentials {
            client_id: field(pairs, "client_id").map(str::to_owned),
            secret: field(pairs, "client_secret").map(str::to_owned),
        },
    }
}

/// 7000218 without a secret, 7000215 when no secret has this value, 7000222 when only expired
/// secrets have it.
fn authenticate(
    state: &AppState,
    app: &AppRegistration,
    secret: Option<&str>,
) -> Result<(), AadError> {
    let Some(secret) = secret else {
        return Err(AadError::secret_missing());
    };
    let now = state.now();
    let matching: Vec<_> = app
        .client_secrets
        .iter()
        .filter(|s| constant_time_eq(s.value.as_bytes(), secret.as_bytes()))
        .collect();
    if matching.is_empty() {
        return Err(AadError::secret_invalid(app.client_id));
    }
    if matching.iter().all(|s| s.expires <= now) {
        return Err(AadError::secret_expired(app.client_id));
    }
    Ok(())
}

fn success(body: &TokenResponse) -> Response {
    let mut response = json(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) async fn token(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut response = token_response(state, segment, &headers, body).await;
    // A browser's request (it sends `Origin`) gets an answer it may read, error included:
    // single-page apps see AADSTS9002326 in their console.
    if headers.contains_key(header::ORIGIN) {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

async fn token_response(
    state: AppState,
    segment: String,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    state.delay(Endpoint::Token).await;
    let trace = state.trace(headers);
    let fail = |error: AadError| token_error(&state.base_url, &error, &trace);
    let pairs = parse_form(&body).unwrap_or_default();
    let creds = credentials(headers, &pairs);
    let client = creds
        .client_id
        .as_deref()
        .and_then(|c| Uuid::parse_str(c).ok());
    if state.is_on(client, Misbehaviour::OversizedBody(Endpoint::Token)) {
        return oversized_body();
    }
    if state.is_on(client, Misbehaviour::DripBody(Endpoint::Token)) {
        return super::dripping_body();
    }
    if let Some(port) = client.and_then(|c| state.redirect_token_port(c)) {
        let mut r = axum::response::IntoResponse::into_response(StatusCode::TEMPORARY_REDIRECT);
        if let Ok(v) = HeaderValue::from_str(&format!("http://127.0.0.1:{port}/token")) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    // Secrets must not be redeemed from a browser (spec §3.1).
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return fail(AadError::cross_origin(origin));
    }
    let authority = Authority::resolve(&state.directory.read(), &segment);
    let Some(authority) = authority else {
        return fail(AadError::tenant_not_found(&segment));
    };
    let Some(grant_type) = field(&pairs, "grant_type") else {
        return fail(AadError::missing_parameter("grant_type"));
    };
    let Some(client_id) = creds.client_id.as_deref() else {
        return fail(AadError::missing_parameter("client_id"));
    };
    let app = {
        let directory = state.directory.read();
        match directory.app(client_id) {
            Some(app) if authority.admits_app(app) => app.clone(),
            _ => {
                let label = authority.directory_label(&directory, &segment);
                return fail(AadError::app_not_found(client_id, &label));
            }
        }
    };
    let result = match grant_type {
        "authorization_code" => {
            authorization_code(&state, authority, &app, &pairs, creds.secret.as_deref())
        }
        "refresh_token" => refresh_token(&state, &app, &pairs, creds.secret.as_deref()),
        "client_credentials" => {
            client_credentials(&state, authority, &app, &pairs, creds.secret.as_deref())
        }
        other => Err(AadError::unsupported_grant_type(other)),
    };
    match result {
        Ok(body) => success(&body),
        Err(error) => fail(error),
    }
}

fn authorization_code(
    state: &AppState,
    authority: Authority,
    app: &AppRegistration,
    pairs: &[(String, String)],
    secret: Option<&str>,
) -> Result<TokenResponse, AadError> {
    let Some(code) = field(pairs, "code") else {
        return Err(AadError::missing_parameter("code"));
    };
    // A code Entra never issued is refused before the secret is even looked at.
    if !state.codes.lock().contains_key(code) {
        return Err(AadError::malformed_grant());
    }
    authenticate(state, app, secret)?;
    let (request, principal) = {
        let mut codes = state.codes.lock();
        let Some(grant) = codes.get_mut(code) else {
            return Err(AadError::malformed_grant());
        };
        if grant.request.client_id != app.client_id {
            return Err(AadError::invalid_grant());
        }
        if authority
            .tenant()
            .is_some_and(|t| t != grant.principal.tenant)
        {
            return Err(AadError::invalid_grant());
        }
        if grant.redeemed {
            return Err(AadError::code_redeemed());
        }
        if state.now() - grant.issued > time::Duration::minutes(10) {
            return Err(AadError::code_expired());
        }
        let Some(redirect_uri) = field(pairs, "redirect_uri") else {
            return Err(AadError::missing_parameter("redirect_uri"));
        };
        if redirect_uri != grant.request.redirect_uri {
            return Err(AadError::reply_address_mismatch(
                redirect_uri,
                &grant.request.redirect_uri,
            ));
        }
        let skip_pkce = state.is_on(Some(app.client_id), Misbehaviour::SkipPkceCheck);
        if let Some(pkce) = grant.request.pkce.as_ref().filter(|_| !skip_pkce) {
            let verifier = field(pairs, "code_verifier").unwrap_or_default();
            if !pkce.verify(verifier) {
                return Err(AadError::pkce_mismatch());
            }
        }
        grant.redeemed = true;
        (grant.request.clone(), grant.principal)
    };
    issue(
        state,
        app,
        principal,
        &request.scopes,
        request.nonce.as_deref(),
        asks_client_info(pairs),
    )
}

/// MSAL sends `client_info=1` to get the home account's ids back.
fn asks_client_info(pairs: &[(String, String)]) -> bool {
    field(pairs, "client_info") == Some("1")
}

fn issue(
    state: &AppState,
    app: &AppRegistration,
    principal: Principal,
    scopes: &[String],
    nonce: Option<&str>,
    wants_client_info: bool,
) -> Result<TokenResponse, AadError> {
    let directory = state.directory.read();
    // Consent and optional claims are read at redemption, so runtime changes apply at once.
    let app = directory
        .apps
        .iter()
        .find(|a| a.client_id == app.client_id)
        .unwrap_or(app);
    let input = UserTokenInput {
        directory: &directory,
        app,
        principal,
        requested_scopes: scopes,
        nonce,
    };
    let mut response = user_token_response(state, &input).ok_or_else(AadError::invalid_grant)?;
    let on = |m| state.is_on(Some(app.client_id), m);
    if on(Misbehaviour::ReplayPreviousIdToken) {
        let fresh = response.id_token.clone();
        let mut last = state.last_id_token.lock();
        if let Some(previous) = last.clone() {
            response.id_token = Some(previous);
        }
        *last = fresh.or(last.clone());
    } else {
        *state.last_id_token.lock() = response.id_token.clone();
    }
    if on(Misbehaviour::OmitIdToken) {
        response.id_token = None;
    }
    if on(Misbehaviour::WrongTokenType) {
        response.token_type = "mac";
    }
    if wants_client_info {
        response.client_info = Some(crate::tokens::client_info(&principal));
    }
    Ok(response)
}

fn refresh_token(
    state: &AppState,
    app: &AppRegistration,
    pairs: &[(String, String)],
    secret: Option<&str>,
) -> Result<TokenResponse, AadError> {
    let Some(token) = field(pairs, "refresh_token") else {
        return Err(AadError::missing_parameter("refresh_token"));
    };
    authenticate(state, app, secret)?;
    let grant = state.refresh_tokens.lock().get(token).cloned();
    let Some(grant) = grant.filter(|g| g.client_id == app.client_id) else {
        return Err(AadError::malformed_grant());
    };
    issue(
        state,
        app,
        grant.principal,
        &grant.scopes,
        None,
        asks_client_info(pairs),
    )
}

fn client_credentials(
    state: &AppState,
    authority: Authority,
    app: &AppRegistration,
    pairs: &[(String, String)],
    secret: Option<&str>,
) -> Result<TokenResponse, AadError> {
    authenticate(state, app, secret)?;
    let Some(tenant) = authority.tenant() else {
        return Err(AadError::no_tenant_for_app_only());
    };
    let Some(scope) = field(pairs, "scope") else {
        return Err(AadError::missing_parameter("scope"));
    };
    if !scope.ends_with("/.default") {
        return Err(AadError::client_credentials_scope(scope));
    }
    let directory = state.directory.read();
    if !is_graph_default_scope(scope) {
        let resource = scope.trim_end_matches("/.default");
        let name = directory
            .tenant(tenant)
            .map(|t| t.display_name.clone())
            .unwrap_or_default();
        return Err(AadError::resource_not_found(resource, &name));
    }
    let lifetime = access_token_lifetime();
    let token = access_token(
        state,
        &directory,
        app,
        tenant,
        None,
        &parse_scopes(""),
        lifetime,
    )
    .ok_or_else(AadError::invalid_grant)?;
    Ok(TokenResponse {
        token_type: "Bearer",
        scope: None,
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: token,
        refresh_token: None,
        id_token: None,
        client_info: None,
    })
}
